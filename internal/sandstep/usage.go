package sandstep

import "time"

// TaskUsage is what a task has consumed so far, as its own steps counted
// it (internal/cost counts and prices it). The counters only grow: each
// step adds what it used in the task writes it makes anyway. The fields
// tagged dynamodbav:"-" are worked out when the task is read.
type TaskUsage struct {
	// The sandbox's size, from its create (Daytona's defaults when the
	// create named none), and its life: from its create to its delete.
	VCPU        int        `json:"vcpu" dynamodbav:"vcpu"`
	MemoryGiB   int        `json:"memoryGiB" dynamodbav:"memoryGiB"`
	DiskGiB     int        `json:"diskGiB" dynamodbav:"diskGiB"`
	SandboxFrom *time.Time `json:"-" dynamodbav:"sandboxFrom,omitempty"`
	SandboxTo   *time.Time `json:"-" dynamodbav:"sandboxTo,omitempty"`
	// SandboxSeconds is SandboxTo (now, while it lives) less SandboxFrom
	// (moved back by the lives of sandboxes a failed create attempt made and
	// deleted).
	SandboxSeconds float64 `json:"sandboxSeconds" dynamodbav:"-"`

	// The task's function invocations: their number, their time (ms) and
	// their time times each one's allocated memory (MB·ms).
	LambdaInvocations int     `json:"lambdaInvocations" dynamodbav:"invocations"`
	LambdaMs          int64   `json:"-" dynamodbav:"lambdaMs"`
	LambdaMBMs        int64   `json:"-" dynamodbav:"lambdaMBMs"`
	LambdaSeconds     float64 `json:"lambdaSeconds" dynamodbav:"-"`
	LambdaGBSeconds   float64 `json:"lambdaGBSeconds" dynamodbav:"-"`

	// StateTransitions are the state machine's states the task's
	// invocations stood for.
	StateTransitions int `json:"stateTransitions" dynamodbav:"transitions"`

	// DynamoDB and S3 requests the task's invocations made, and DynamoDB's
	// request units as the requests show them (a put by its item's size,
	// an update or a read one unit; a transaction's items count twice).
	DynamoDBReadRequests  int `json:"dynamodbReadRequests" dynamodbav:"ddbReads"`
	DynamoDBWriteRequests int `json:"dynamodbWriteRequests" dynamodbav:"ddbWrites"`
	DynamoDBReadUnits     int `json:"dynamodbReadUnits" dynamodbav:"ddbReadUnits"`
	DynamoDBWriteUnits    int `json:"dynamodbWriteUnits" dynamodbav:"ddbWriteUnits"`
	// S3GetRequests are GETs and HEADs; S3PutRequests are PUT, COPY, POST
	// and LIST requests (S3 prices LIST as a PUT).
	S3GetRequests int `json:"s3GetRequests" dynamodbav:"s3Gets"`
	S3PutRequests int `json:"s3PutRequests" dynamodbav:"s3Puts"`

	// Carried is the last invocation's usage written on the record, so
	// that a write made again adds only what is new (cost.Taken.AddTo).
	Carried *CarriedUsage `json:"-" dynamodbav:"carried,omitempty"`
}

// CarriedUsage is what one write of an invocation carried onto a task's
// record, under the key that names that write.
type CarriedUsage struct {
	Key   string    `dynamodbav:"key"`
	Usage TaskUsage `dynamodbav:"usage"`
}

// TaskCost is a task's estimated cost in US dollars, from its usage and
// the deployment's price table. Amounts are decimal strings with nine
// places (exact nano-dollars, never a float's 1e-05); the parts add up
// to USD.
type TaskCost struct {
	USD           string `json:"usd"`
	Sandbox       string `json:"sandbox"`
	Lambda        string `json:"lambda"`
	StepFunctions string `json:"stepFunctions"`
	DynamoDB      string `json:"dynamodb"`
	S3            string `json:"s3"`
	// Prices says whose prices: "default" (built in) or "PRICE_TABLE_REF".
	Prices string `json:"prices"`
}
