package app

import (
	"github.com/sandstep/sandstep/internal/awsjson"
	"github.com/sandstep/sandstep/internal/objects"
	"github.com/sandstep/sandstep/internal/stepfunctions"
)

// Objects returns the task bucket, or nil when TASK_BUCKET is unset (the
// deployment runs no tasks).
func (e *Env) Objects() (*objects.Bucket, error) {
	return once(e, "objects", func() (*objects.Bucket, error) {
		if e.Config.TaskBucket == "" {
			return nil, nil
		}
		return objects.New(e.AWS, e.Config.TaskBucket, objects.Options{Endpoint: e.Endpoint("S3"), Count: countS3})
	})
}

// Machine returns the task state machine, or nil when STATE_MACHINE_ARN
// is unset.
func (e *Env) Machine() (*stepfunctions.Machine, error) {
	return once(e, "machine", func() (*stepfunctions.Machine, error) {
		if e.Config.StateMachineARN == "" {
			return nil, nil
		}
		return stepfunctions.New(e.AWS, awsjson.Options{Endpoint: e.Endpoint("SFN")}, e.Config.StateMachineARN)
	})
}
