package api_test

import (
	"fmt"

	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// The direct actions each function serves: a state machine step names one
// in its Parameters ("action": "exec").
func ExampleActions() {
	for _, fn := range api.Functions() {
		fmt.Println(fn, api.Actions(fn))
	}
	// Output:
	// create [create task-prepare task-sandbox]
	// delete [delete task-cleanup task-ended]
	// execute [exec agent-execute task-start task-collect]
	// github []
	// reaper [reap]
	// status [get list task-wait task-check]
}

// How the edge answers an error of the service: the HTTP status for API
// Gateway callers, the error name for a state machine's Retry and Catch.
func ExampleStepFunctionsName() {
	err := fmt.Errorf("create sandbox: %w", sandstep.Errorf(sandstep.ETRANSIENT, "Daytona is unavailable"))
	code := sandstep.ErrorCode(err)
	fmt.Println(api.HTTPStatus(code), api.StepFunctionsName(code))
	// Output: 503 Sandbox.Transient
}
