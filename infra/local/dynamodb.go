package local

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	cfn "github.com/awslabs/goformation/v7/cloudformation/dynamodb"

	"github.com/sandstep/sandstep/infra/samtemplate"
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

// tableDefinition returns the CreateTable input for the template's one
// AWS::DynamoDB::Table, named name: attributes, keys, indexes, billing and
// encryption as the template declares them. The TTL and point-in-time
// recovery settings are not part of CreateTable (and minidyn has no TTL).
func tableDefinition(tpl *samtemplate.Template, name string) (*dynamodb.CreateTableInput, string, error) {
	id, err := tpl.TableLogicalID()
	if err != nil {
		return nil, "", err
	}
	t, err := tpl.CloudFormation().GetDynamoDBTableWithName(id)
	if err != nil {
		return nil, "", fmt.Errorf("template table %s: %w", id, err)
	}
	in := &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		KeySchema: keySchema(t.KeySchema),
	}
	for _, a := range t.AttributeDefinitions {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(a.AttributeName),
			AttributeType: types.ScalarAttributeType(a.AttributeType),
		})
	}
	for _, g := range t.GlobalSecondaryIndexes {
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName:             aws.String(g.IndexName),
			KeySchema:             keySchema(g.KeySchema),
			Projection:            projection(g.Projection),
			ProvisionedThroughput: throughput(g.ProvisionedThroughput),
		})
	}
	for _, l := range t.LocalSecondaryIndexes {
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{
			IndexName:  aws.String(l.IndexName),
			KeySchema:  keySchema(l.KeySchema),
			Projection: projection(l.Projection),
		})
	}
	if t.BillingMode != nil {
		in.BillingMode = types.BillingMode(*t.BillingMode)
	}
	in.ProvisionedThroughput = throughput(t.ProvisionedThroughput)
	if t.SSESpecification != nil {
		in.SSESpecification = &types.SSESpecification{Enabled: aws.Bool(t.SSESpecification.SSEEnabled)}
	}
	return in, id, nil
}

func keySchema(ks []cfn.Table_KeySchema) []types.KeySchemaElement {
	out := make([]types.KeySchemaElement, 0, len(ks))
	for _, k := range ks {
		out = append(out, types.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: types.KeyType(k.KeyType)})
	}
	return out
}

func projection(p *cfn.Table_Projection) *types.Projection {
	if p == nil {
		return &types.Projection{ProjectionType: types.ProjectionTypeAll}
	}
	out := &types.Projection{NonKeyAttributes: p.NonKeyAttributes}
	if p.ProjectionType != nil {
		out.ProjectionType = types.ProjectionType(*p.ProjectionType)
	}
	return out
}

func throughput(p *cfn.Table_ProvisionedThroughput) *types.ProvisionedThroughput {
	if p == nil {
		return nil
	}
	return &types.ProvisionedThroughput{
		ReadCapacityUnits:  aws.Int64(int64(p.ReadCapacityUnits)),
		WriteCapacityUnits: aws.Int64(int64(p.WriteCapacityUnits)),
	}
}

// createTable creates the table on the DynamoDB at endpoint; a table that
// exists already is fine.
func createTable(ctx context.Context, endpoint string, in *dynamodb.CreateTableInput) error {
	_, err := DynamoDBClient(endpoint).CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", aws.ToString(in.TableName), err)
	}
	return nil
}
