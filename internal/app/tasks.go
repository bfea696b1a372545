package app

import (
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sandstep/sandstep/internal/objects"
	"github.com/sandstep/sandstep/internal/stepfunctions"
)

// Objects returns the task bucket, or nil when TASK_BUCKET is unset (the
// deployment runs no tasks).
func (e *Env) Objects() *objects.Bucket {
	b, _ := once(e, "objects", func() (*objects.Bucket, error) {
		if e.Config.TaskBucket == "" {
			return nil, nil
		}
		// The client is built on the bucket's first use, not at cold start.
		endpoint := e.Endpoint("S3")
		return objects.Lazy(func() *s3.Client {
			return s3.NewFromConfig(e.AWS, func(o *s3.Options) {
				o.BaseEndpoint = endpoint
				// A local stand-in has no bucket subdomains.
				o.UsePathStyle = o.BaseEndpoint != nil
				o.APIOptions = append(o.APIOptions, countS3)
			})
		}, e.Config.TaskBucket), nil
	})
	return b
}

// Machine returns the task state machine, or nil when STATE_MACHINE_ARN
// is unset.
func (e *Env) Machine() *stepfunctions.Machine {
	m, _ := once(e, "machine", func() (*stepfunctions.Machine, error) {
		if e.Config.StateMachineARN == "" {
			return nil, nil
		}
		// The client is built on its first call, not at cold start.
		endpoint := e.Endpoint("SFN")
		return stepfunctions.Lazy(func() *sfn.Client {
			return sfn.NewFromConfig(e.AWS, func(o *sfn.Options) { o.BaseEndpoint = endpoint })
		}, e.Config.StateMachineARN), nil
	})
	return m
}
