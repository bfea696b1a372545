package stepfunctions

import "strings"

// executionARN derives an execution's ARN from its state machine's:
// arn:aws:states:<region>:<account>:stateMachine:<machine> becomes
// arn:aws:states:<region>:<account>:execution:<machine>:<name>. The machine
// may be qualified by an alias or version (<machine>:live); executions
// started on either are named under the machine alone.
func executionARN(machineARN, name string) string {
	prefix, machine, ok := strings.Cut(machineARN, ":stateMachine:")
	if !ok {
		return ""
	}
	machine, _, _ = strings.Cut(machine, ":")
	return prefix + ":execution:" + machine + ":" + name
}
