// Package dynamo is sandstep's own DynamoDB client: the operations the
// store calls, on DynamoDB's JSON 1.0 protocol over awsjson's signing and
// retrying core, with the SDK's attribute value types (which the SDK's
// expression builder and attributevalue codec make and read). The
// generated SDK client cost every function's bootstrap over a megabyte,
// and its cold start the build of its endpoint tables and middleware stack
// before the first answer.
//
// Inputs and outputs carry the SDK's member names and shapes, only the
// members sandstep uses. Errors are the SDK's types where DynamoDB's answer
// carries more than a message (a refused write's item, a cancelled
// transaction's reasons), else *awsjson.APIError.
package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/awsjson"
)

// service is DynamoDB on the JSON 1.0 protocol.
var service = awsjson.Service{EndpointPrefix: "dynamodb", TargetPrefix: "DynamoDB_20120810", Version: "1.0"}

// maxResponseBytes bounds an answer: a Query or Scan page holds up to
// 1 MB of items and the one that crosses it (400 KB at most), and JSON
// writes a control character in a string as six bytes (\u0001): 8.4 MB
// at worst.
const maxResponseBytes = 16 << 20

// Options tune a Client.
type Options struct {
	// Options are awsjson's: the endpoint, attempts and backoff.
	awsjson.Options
	// Count, if set, is told of each call (not each try) with its input:
	// the task meter's hook.
	Count func(ctx context.Context, in any)
}

// Client calls DynamoDB. It is safe for concurrent use.
type Client struct {
	c     *awsjson.Client
	count func(context.Context, any)
}

// New returns a client with cfg's region, credentials and HTTP client.
func New(cfg aws.Config, opts Options) (*Client, error) {
	o := opts.Options
	o.MaxResponseBytes = maxResponseBytes
	c, err := awsjson.New(cfg, service, o)
	if err != nil {
		return nil, err
	}
	return &Client{c: c, count: opts.Count}, nil
}

// Warm opens a connection to DynamoDB ahead of the first call (see
// awsjson.Client.Warm); it is not counted. A Lambda function calls it in
// the background at its start, while the runtime fetches the first event.
func (c *Client) Warm(ctx context.Context) { c.c.Warm(ctx) }

// call runs operation with body, counted as in, and turns an error answer
// that carries more than a message into the SDK's type for it.
func (c *Client) call(ctx context.Context, operation string, in, body, out any) error {
	if c.count != nil {
		c.count(ctx, in)
	}
	err := c.c.Call(ctx, operation, body, out)
	var ae *awsjson.APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Code {
	case "ConditionalCheckFailedException":
		var body struct{ Item Item }
		_ = json.Unmarshal(ae.Body, &body)
		var refused error = &types.ConditionalCheckFailedException{Message: aws.String(ae.Message), Item: body.Item}
		if ae.EarlierTryMayHaveApplied {
			refused = afterUnknownTry{refused}
		}
		return fmt.Errorf("%s: %w", operation, refused)
	case "TransactionCanceledException":
		var body struct {
			CancellationReasons []struct {
				Code, Message *string
				Item          Item
			}
		}
		_ = json.Unmarshal(ae.Body, &body)
		tce := &types.TransactionCanceledException{Message: aws.String(ae.Message)}
		for _, r := range body.CancellationReasons {
			tce.CancellationReasons = append(tce.CancellationReasons,
				types.CancellationReason{Code: r.Code, Message: r.Message, Item: r.Item})
		}
		return fmt.Errorf("%s: %w", operation, tce)
	}
	return err
}

// afterUnknownTry is a refused condition answered to a retry of a write
// whose earlier try may have been applied (a 5xx, no answer): the
// condition may have been refused by that try's own effect.
type afterUnknownTry struct{ error }

func (e afterUnknownTry) Error() string {
	return e.error.Error() + " (an earlier try may have been applied)"
}

func (e afterUnknownTry) Unwrap() error { return e.error }

// EarlierTryMayHaveApplied says whether err is a single-item write's
// refused condition answered after a try of the same write that may have
// been applied: the caller can read the item to tell its own write from
// another's (sandstep's writes are not idempotent tokens, as
// TransactWriteItems' are).
func EarlierTryMayHaveApplied(err error) bool {
	var e afterUnknownTry
	return errors.As(err, &e)
}

// Names are expression attribute names (#n) by placeholder.
type Names = map[string]string

// GetItemInput reads one item by its key.
type GetItemInput struct {
	TableName                *string
	Key                      Item
	ConsistentRead           *bool   `json:",omitempty"`
	ProjectionExpression     *string `json:",omitempty"`
	ExpressionAttributeNames Names   `json:",omitempty"`
}

// GetItemOutput holds the item, or none.
type GetItemOutput struct {
	Item Item
}

// GetItem reads an item; an absent one is an output without Item.
func (c *Client) GetItem(ctx context.Context, in *GetItemInput) (*GetItemOutput, error) {
	out := new(GetItemOutput)
	return out, c.call(ctx, "GetItem", in, in, out)
}

// The single-item writes take the SDK's transaction items (types.Put,
// types.Update, types.Delete): a write is the same whether it goes alone
// or in a transaction (see TransactWriteItems).

// PutItem writes a whole item, on p's condition (sandstep asks for
// nothing back).
func (c *Client) PutItem(ctx context.Context, p *types.Put) error {
	return c.call(ctx, "PutItem", p, putOp(p), nil)
}

// UpdateItem changes an item's attributes, on u's condition, and returns
// what returnValues asks for ("" for nothing).
func (c *Client) UpdateItem(ctx context.Context, u *types.Update, returnValues types.ReturnValue) (Item, error) {
	body := updateOp(u)
	body.ReturnValues = returnValues
	var out struct{ Attributes Item }
	err := c.call(ctx, "UpdateItem", u, body, &out)
	return out.Attributes, err
}

// DeleteItem deletes an item, on d's condition (sandstep asks for nothing
// back).
func (c *Client) DeleteItem(ctx context.Context, d *types.Delete) error {
	return c.call(ctx, "DeleteItem", d, deleteOp(d), nil)
}

// QueryInput reads a partition (of the table or an index), a page at a
// time.
type QueryInput struct {
	TableName                 *string
	IndexName                 *string `json:",omitempty"`
	KeyConditionExpression    *string `json:",omitempty"`
	FilterExpression          *string `json:",omitempty"`
	ProjectionExpression      *string `json:",omitempty"`
	ExpressionAttributeNames  Names   `json:",omitempty"`
	ExpressionAttributeValues Item    `json:",omitempty"`
	ExclusiveStartKey         Item    `json:",omitempty"`
	ConsistentRead            *bool   `json:",omitempty"`
	ScanIndexForward          *bool   `json:",omitempty"`
	Limit                     *int32  `json:",omitempty"`
}

// Page is a page of a query or a scan; LastEvaluatedKey, when set,
// starts the next.
type Page struct {
	Items            []Item
	LastEvaluatedKey Item
}

// Query reads a page of a partition.
func (c *Client) Query(ctx context.Context, in *QueryInput) (*Page, error) {
	out := new(Page)
	return out, c.call(ctx, "Query", in, in, out)
}

// ScanInput reads the whole table, a page at a time.
type ScanInput struct {
	TableName                 *string
	IndexName                 *string `json:",omitempty"`
	FilterExpression          *string `json:",omitempty"`
	ProjectionExpression      *string `json:",omitempty"`
	ExpressionAttributeNames  Names   `json:",omitempty"`
	ExpressionAttributeValues Item    `json:",omitempty"`
	ExclusiveStartKey         Item    `json:",omitempty"`
	ConsistentRead            *bool   `json:",omitempty"`
	Limit                     *int32  `json:",omitempty"`
}

// Scan reads a page of the table.
func (c *Client) Scan(ctx context.Context, in *ScanInput) (*Page, error) {
	out := new(Page)
	return out, c.call(ctx, "Scan", in, in, out)
}

// TransactWriteItemsInput writes up to 100 items atomically. Its items
// are the SDK's (types.Put, types.Update, types.Delete,
// types.ConditionCheck).
type TransactWriteItemsInput struct {
	TransactItems []types.TransactWriteItem
	// ClientRequestToken makes the call idempotent for ten minutes; nil
	// means a fresh one for each call (as the SDK does), the same for each
	// of its tries, so a retried transaction that had committed is not
	// refused by its own conditions.
	ClientRequestToken *string
}

// TransactWriteItems applies in's writes all or none.
func (c *Client) TransactWriteItems(ctx context.Context, in *TransactWriteItemsInput) error {
	if in.ClientRequestToken == nil {
		withToken := *in
		withToken.ClientRequestToken = aws.String(rand.Text())
		in = &withToken
	}
	return c.call(ctx, "TransactWriteItems", in, in, nil)
}

// MarshalJSON writes the SDK's transaction items in DynamoDB's form.
func (in *TransactWriteItemsInput) MarshalJSON() ([]byte, error) {
	type item struct {
		ConditionCheck *op `json:",omitempty"`
		Put            *op `json:",omitempty"`
		Update         *op `json:",omitempty"`
		Delete         *op `json:",omitempty"`
	}
	items := make([]item, len(in.TransactItems))
	for i, t := range in.TransactItems {
		switch {
		case t.Put != nil:
			items[i].Put = putOp(t.Put)
		case t.Update != nil:
			items[i].Update = updateOp(t.Update)
		case t.Delete != nil:
			items[i].Delete = deleteOp(t.Delete)
		case t.ConditionCheck != nil:
			cc := t.ConditionCheck
			items[i].ConditionCheck = &op{TableName: cc.TableName, Key: cc.Key, ConditionExpression: cc.ConditionExpression,
				ExpressionAttributeNames: cc.ExpressionAttributeNames, ExpressionAttributeValues: cc.ExpressionAttributeValues,
				ReturnValuesOnConditionCheckFailure: cc.ReturnValuesOnConditionCheckFailure}
		default:
			return nil, fmt.Errorf("transaction item %d: neither a put, an update, a delete nor a condition check", i)
		}
	}
	return json.Marshal(struct {
		ClientRequestToken *string `json:",omitempty"`
		TransactItems      []item
	}{in.ClientRequestToken, items})
}

// op is one write on the wire: a single-item call's input, or an item of
// a transaction.
type op struct {
	TableName                           *string
	Key                                 Item                                      `json:",omitempty"`
	Item                                Item                                      `json:",omitempty"`
	UpdateExpression                    *string                                   `json:",omitempty"`
	ConditionExpression                 *string                                   `json:",omitempty"`
	ExpressionAttributeNames            Names                                     `json:",omitempty"`
	ExpressionAttributeValues           Item                                      `json:",omitempty"`
	ReturnValues                        types.ReturnValue                         `json:",omitempty"`
	ReturnValuesOnConditionCheckFailure types.ReturnValuesOnConditionCheckFailure `json:",omitempty"`
}

func putOp(p *types.Put) *op {
	return &op{TableName: p.TableName, Item: p.Item, ConditionExpression: p.ConditionExpression,
		ExpressionAttributeNames: p.ExpressionAttributeNames, ExpressionAttributeValues: p.ExpressionAttributeValues,
		ReturnValuesOnConditionCheckFailure: p.ReturnValuesOnConditionCheckFailure}
}

func updateOp(u *types.Update) *op {
	return &op{TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
		ConditionExpression: u.ConditionExpression, ExpressionAttributeNames: u.ExpressionAttributeNames,
		ExpressionAttributeValues: u.ExpressionAttributeValues, ReturnValuesOnConditionCheckFailure: u.ReturnValuesOnConditionCheckFailure}
}

func deleteOp(d *types.Delete) *op {
	return &op{TableName: d.TableName, Key: d.Key, ConditionExpression: d.ConditionExpression,
		ExpressionAttributeNames: d.ExpressionAttributeNames, ExpressionAttributeValues: d.ExpressionAttributeValues,
		ReturnValuesOnConditionCheckFailure: d.ReturnValuesOnConditionCheckFailure}
}

// CreateTableInput defines a table: what store.TableDefinition says and
// the local stack and tests create (template.yaml creates it in AWS).
type CreateTableInput struct {
	TableName              *string
	BillingMode            types.BillingMode
	AttributeDefinitions   []types.AttributeDefinition
	KeySchema              []types.KeySchemaElement
	GlobalSecondaryIndexes []types.GlobalSecondaryIndex
	SSESpecification       *types.SSESpecification
}

// MarshalJSON writes the definition in DynamoDB's form (the SDK's types
// would write their unset members as nulls).
func (in *CreateTableInput) MarshalJSON() ([]byte, error) {
	type attr struct{ AttributeName, AttributeType string }
	type key struct{ AttributeName, KeyType string }
	type projection struct {
		ProjectionType   string
		NonKeyAttributes []string `json:",omitempty"`
	}
	type gsi struct {
		IndexName  string
		KeySchema  []key
		Projection projection
	}
	keys := func(ks []types.KeySchemaElement) []key {
		out := make([]key, len(ks))
		for i, k := range ks {
			out[i] = key{aws.ToString(k.AttributeName), string(k.KeyType)}
		}
		return out
	}
	w := struct {
		TableName              string
		BillingMode            string `json:",omitempty"`
		AttributeDefinitions   []attr
		KeySchema              []key
		GlobalSecondaryIndexes []gsi                   `json:",omitempty"`
		SSESpecification       *struct{ Enabled bool } `json:",omitempty"`
	}{TableName: aws.ToString(in.TableName), BillingMode: string(in.BillingMode), KeySchema: keys(in.KeySchema)}
	for _, a := range in.AttributeDefinitions {
		w.AttributeDefinitions = append(w.AttributeDefinitions, attr{aws.ToString(a.AttributeName), string(a.AttributeType)})
	}
	for _, g := range in.GlobalSecondaryIndexes {
		p := projection{}
		if g.Projection != nil {
			p = projection{string(g.Projection.ProjectionType), g.Projection.NonKeyAttributes}
		}
		w.GlobalSecondaryIndexes = append(w.GlobalSecondaryIndexes, gsi{aws.ToString(g.IndexName), keys(g.KeySchema), p})
	}
	if in.SSESpecification != nil {
		w.SSESpecification = &struct{ Enabled bool }{aws.ToBool(in.SSESpecification.Enabled)}
	}
	return json.Marshal(w)
}

// CreateTable creates a table. One that exists already is DynamoDB's
// ResourceInUseException.
func (c *Client) CreateTable(ctx context.Context, in *CreateTableInput) error {
	return c.call(ctx, "CreateTable", in, in, nil)
}
