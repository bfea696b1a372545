package local

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// DynamoDBClient returns an SDK client for a local DynamoDB endpoint (the
// embedded minidyn) with dummy static credentials and a fixed region, so
// that nothing is read from the environment, a profile or an instance
// metadata address.
func DynamoDBClient(endpoint string) *dynamodb.Client {
	cfg := aws.Config{
		Region:      DefaultRegion,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		// minidyn sends no CRC32 header; without this the SDK logs a
		// warning on every reply.
		o.DisableValidateResponseChecksum = true
	})
}
