package app

import (
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sandstep/sandstep/internal/awsjson"
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
func (e *Env) Machine() (*stepfunctions.Machine, error) {
	return once(e, "machine", func() (*stepfunctions.Machine, error) {
		if e.Config.StateMachineARN == "" {
			return nil, nil
		}
		var opts awsjson.Options
		if endpoint := e.Endpoint("SFN"); endpoint != nil {
			opts.Endpoint = *endpoint
		}
		return stepfunctions.New(e.AWS, opts, e.Config.StateMachineARN)
	})
}
