package stepfunctions

import "strings"

// executionARN derives an execution's ARN from its state machine's:
// arn:aws:states:<region>:<account>:stateMachine:<machine> becomes
// arn:aws:states:<region>:<account>:execution:<machine>:<name>.
func executionARN(machineARN, name string) string {
	prefix, machine, ok := strings.Cut(machineARN, ":stateMachine:")
	if !ok {
		return ""
	}
	return prefix + ":execution:" + machine + ":" + name
}
