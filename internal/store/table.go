package store

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/awsjson"
	"github.com/sandstep/sandstep/internal/dynamo"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// PointInTimeRecovery says whether the table keeps continuous backups. It is
// not part of CreateTableInput; template.yaml sets it and a test checks that
// the template agrees with this constant.
const PointInTimeRecovery = true

// TableDefinition returns the one definition of the table: keys, the GSIs,
// billing mode and encryption. Tests and the local stack create the table
// from it, and a test checks that template.yaml declares the same table. The
// time-to-live attribute (TTLAttribute) and point-in-time recovery
// (PointInTimeRecovery) are set by template.yaml, not by CreateTable.
func TableDefinition(table string) *dynamo.CreateTableInput {
	str := types.ScalarAttributeTypeS
	return &dynamo.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: str},
			{AttributeName: aws.String(attrSK), AttributeType: str},
			{AttributeName: aws.String(attrGSI1PK), AttributeType: str},
			{AttributeName: aws.String(attrGSI1SK), AttributeType: str},
			{AttributeName: aws.String(attrLivePK), AttributeType: str},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(GSI1),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(attrGSI1PK), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrGSI1SK), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}, {
			IndexName: aws.String(LiveIndex),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(attrLivePK), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
		SSESpecification: &types.SSESpecification{Enabled: aws.Bool(true)},
	}
}

// CreateTable creates the table from TableDefinition. A table that already
// exists is fine. It does not wait for the table to become ACTIVE (minidyn
// reports no status); DynamoDB accepts no item writes until it is.
func CreateTable(ctx context.Context, client *dynamo.Client, table string) error {
	if table == "" {
		return sandstep.Invalid("table", "table name must not be empty")
	}
	err := client.CreateTable(ctx, TableDefinition(table))
	var ae *awsjson.APIError
	if errors.As(err, &ae) && ae.Code == "ResourceInUseException" {
		return nil
	}
	if err != nil {
		return mapErr(err, "create table")
	}
	return nil
}
