package store

import (
	"context"
	"crypto/rand"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/dynamo"

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
		out, err := s.db.GetItem(ctx, &dynamo.GetItemInput{
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
		markLive(item)
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
