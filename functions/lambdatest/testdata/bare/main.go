// Command bare is the yardstick of the cold-start benchmark: the smallest
// aws-lambda-go function, answering every event with itself, built with
// the same flags as sandstep's bootstraps.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, in json.RawMessage) (json.RawMessage, error) { return in, nil })
}
