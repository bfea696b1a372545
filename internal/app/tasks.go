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
		client := s3.NewFromConfig(e.AWS, func(o *s3.Options) {
			o.BaseEndpoint = e.Endpoint("S3")
			// A local stand-in has no bucket subdomains.
			o.UsePathStyle = o.BaseEndpoint != nil
			o.APIOptions = append(o.APIOptions, countS3)
		})
		return objects.New(client, e.Config.TaskBucket), nil
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
		client := sfn.NewFromConfig(e.AWS, func(o *sfn.Options) { o.BaseEndpoint = e.Endpoint("SFN") })
		return stepfunctions.New(client, e.Config.StateMachineARN), nil
	})
	return m
}
