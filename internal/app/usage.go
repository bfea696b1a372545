package app

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/cost"
	"github.com/sandstep/sandstep/internal/dynamo"
)

// The DynamoDB and S3 clients count each request a task's step makes
// into the step's meter (internal/cost; README, "Task cost"): once per
// call, not per retry of it.

func countDynamoDB(ctx context.Context, in any) {
	if m := cost.MeterFrom(ctx); m != nil {
		if write, units, ok := dynamoDBUnits(in); ok {
			m.DynamoDB(write, units)
		}
	}
}

// dynamoDBUnits is a data request's class and its request units as the
// request shows them: a put's item by its size, an update or a delete one
// unit, a read one unit (items up to 4 KB), a transaction's items twice.
// ok false: no data request (not billed so).
func dynamoDBUnits(params any) (write bool, units int, ok bool) {
	switch in := params.(type) {
	case *dynamo.GetItemInput, *dynamo.QueryInput, *dynamo.ScanInput:
		return false, 1, true
	case *types.Put:
		return true, writeUnits(in.Item), true
	case *types.Update, *types.Delete:
		return true, 1, true
	case *dynamo.TransactWriteItemsInput:
		for _, w := range in.TransactItems {
			units += 2
			if w.Put != nil {
				units += 2 * (writeUnits(w.Put.Item) - 1)
			}
		}
		return true, units, true
	}
	return false, 0, false
}

// writeUnits is what writing item costs: a unit per KB begun, by
// DynamoDB's measure (attribute names and values). An update's item is not
// known before it is written, so it counts one.
func writeUnits(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + valueSize(v)
	}
	return max(1, (n+1023)/1024)
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return len(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberSS:
		return sumLen(v.Value)
	case *types.AttributeValueMemberNS:
		return sumLen(v.Value)
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += len(k) + valueSize(e) + 1
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += valueSize(e) + 1
		}
		return n
	}
	return 1 // BOOL, NULL, binary sets are rare here
}

func sumLen(ss []string) int {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	return n
}

// countS3 counts a call to the task bucket (objects.Options.Count).
func countS3(ctx context.Context, get bool) {
	if m := cost.MeterFrom(ctx); m != nil {
		m.S3(get)
	}
}

// clock is the Env's time: time.Now unless a test set one.
func (e *Env) clock() func() time.Time {
	if e.now != nil {
		return e.now
	}
	return time.Now
}

// pricesRetry is how long a price table that could not be read is not
// asked for again: every task shown asks, a list of them at once.
const pricesRetry = time.Minute

// Prices is the price table of tasks' cost estimates: PRICE_TABLE_REF's
// document over the built-in prices, read on first need, or the built-in
// prices alone.
func (e *Env) Prices(ctx context.Context) (*cost.Table, error) {
	now := e.clock()
	e.mu.Lock()
	failed := e.pricesFailed
	e.mu.Unlock()
	if failed.err != nil && now().Sub(failed.at) < pricesRetry {
		return nil, failed.err
	}
	t, err := e.readPrices(ctx)
	if err != nil {
		e.mu.Lock()
		e.pricesFailed.err, e.pricesFailed.at = err, now()
		e.mu.Unlock()
	}
	return t, err
}

func (e *Env) readPrices(ctx context.Context) (*cost.Table, error) {
	return once(e, "prices", func() (*cost.Table, error) {
		if e.Config.PriceTableRef.IsZero() {
			return cost.Defaults(), nil
		}
		doc, err := e.deploymentSecret(ctx, "PRICE_TABLE_REF", "", e.Config.PriceTableRef)
		if err != nil {
			return nil, err
		}
		t, err := cost.Parse([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("PRICE_TABLE_REF: %w", err)
		}
		e.Logger.InfoContext(ctx, "price table", "prices", t.String())
		return t, nil
	})
}
