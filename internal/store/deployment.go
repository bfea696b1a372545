package store

import (
	"context"
	"crypto/rand"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The deployment item: DEPLOYMENT/META holds the id that labels every
// sandbox this deployment creates.
const (
	deploymentPK   = "DEPLOYMENT"
	typeDeployment = "deployment"
	attrID         = "id"
)

// Deployment returns the deployment's id: name and a random suffix,
// generated the first time any function of the deployment asks and kept in
// the table, so that it lives as long as the deployment's data. Of
// concurrent first calls, one writes the id and all return it.
func (s *Store) Deployment(ctx context.Context, name string) (string, error) {
	if err := validateID("name", name); err != nil {
		return "", err
	}
	for range 2 {
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String(s.table),
			Key:            key(deploymentPK, skMeta),
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return "", mapErr(err, "read the deployment")
		}
		if v, ok := out.Item[attrID].(*types.AttributeValueMemberS); ok {
			return v.Value, nil
		}
		id := name + "-" + strings.ToLower(rand.Text()[:8])
		item := key(deploymentPK, skMeta)
		item[attrType], item[attrID] = str(typeDeployment), str(id)
		err = s.write(ctx, s.put(item, absent))
		switch {
		case err == nil:
			return id, nil
		case !conditionFailed(err, 0):
			return "", mapErr(err, "record the deployment")
		}
		// Another function wrote it first: read theirs.
	}
	return "", sandstep.Errorf(sandstep.ETRANSIENT, "store: the deployment item keeps changing; try again")
}

// LiveSandboxes returns every sandbox record, of every owner, that is not
// in a terminal state: what a reconciliation matches against the
// provider's list. It scans the table.
func (s *Store) LiveSandboxes(ctx context.Context) ([]*sandstep.Sandbox, error) {
	live := expression.Name(attrType).Equal(expression.Value(typeSandbox)).And(
		expression.Name(attrState).In(expression.Value(sandstep.StateCreating), expression.Value(sandstep.StateReady), expression.Value(sandstep.StateDeleting)))
	expr := build(expression.NewBuilder().WithFilter(live))
	in := &dynamodb.ScanInput{
		TableName:                 aws.String(s.table),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(true),
	}
	var out []*sandstep.Sandbox
	for {
		page, err := s.db.Scan(ctx, in)
		if err != nil {
			return nil, mapErr(err, "scan live sandboxes")
		}
		for _, it := range page.Items {
			sb, err := unmarshalRecord[sandstep.Sandbox](it, "sandbox")
			if err != nil {
				return nil, err
			}
			out = append(out, sb)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}
