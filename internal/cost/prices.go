// Package cost is what a task consumed and what that costs: a meter each
// task step carries in its context, which the DynamoDB and S3 clients
// count into and the task's writes empty onto its record; and the price
// table (built-in list prices, or the JSON document PRICE_TABLE_REF
// names) that turns the record's usage into an estimate in dollars.
package cost

import (
	"fmt"
	"math"
	"strings"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/strictjson"
)

// Table is a price table: US dollars per unit. Its JSON is the document
// PRICE_TABLE_REF names (README, "Task cost"); every field is optional
// and replaces its default.
type Table struct {
	Daytona       DaytonaPrices       `json:"daytona"`
	Lambda        LambdaPrices        `json:"lambda"`
	StepFunctions StepFunctionsPrices `json:"stepFunctions"`
	DynamoDB      DynamoDBPrices      `json:"dynamodb"`
	S3            S3Prices            `json:"s3"`
	// Source is "default" or "PRICE_TABLE_REF"; not part of the document.
	Source string `json:"-"`
}

// DaytonaPrices are a running sandbox's prices per second.
type DaytonaPrices struct {
	VCPUSecond      *float64 `json:"vcpuSecond"`
	MemoryGiBSecond *float64 `json:"memoryGiBSecond"`
	DiskGiBSecond   *float64 `json:"diskGiBSecond"`
}

// LambdaPrices: per GB-second of duration and per request.
type LambdaPrices struct {
	GBSecond *float64 `json:"gbSecond"`
	Request  *float64 `json:"request"`
}

// StepFunctionsPrices: Standard workflows, per state transition.
type StepFunctionsPrices struct {
	Transition *float64 `json:"transition"`
}

// DynamoDBPrices: on-demand, per request unit.
type DynamoDBPrices struct {
	WriteUnit *float64 `json:"writeUnit"`
	ReadUnit  *float64 `json:"readUnit"`
}

// S3Prices: per request of each class.
type S3Prices struct {
	Put *float64 `json:"put"`
	Get *float64 `json:"get"`
}

func usd(v float64) *float64 { return &v }

// Defaults is the built-in price table (docs/performance.md, "Task cost",
// has the sources and their date): Daytona's published per-second prices
// and AWS's list prices in us-east-1, Lambda on arm64.
func Defaults() *Table {
	return &Table{
		Daytona:       DaytonaPrices{VCPUSecond: usd(0.000014), MemoryGiBSecond: usd(0.0000045), DiskGiBSecond: usd(0.00000003)},
		Lambda:        LambdaPrices{GBSecond: usd(0.0000133334), Request: usd(0.0000002)},
		StepFunctions: StepFunctionsPrices{Transition: usd(0.000025)},
		DynamoDB:      DynamoDBPrices{WriteUnit: usd(0.000000625), ReadUnit: usd(0.000000125)},
		S3:            S3Prices{Put: usd(0.000005), Get: usd(0.0000004)},
		Source:        "default",
	}
}

// maxPrice bounds any one price: a dollar a unit is a mistake (a price
// per thousand or million given as if per unit, say), not a price.
const maxPrice = 1.0

// Parse reads a price table document strictly (strictjson) over the
// defaults: a field not named exactly as documented, a value that is not a
// number, or a price that is negative or above a dollar is an EINVALID
// error naming the field by its path ("lambda.gbSecond").
func Parse(data []byte) (*Table, error) {
	t := Defaults()
	t.Source = "PRICE_TABLE_REF"
	if err := strictjson.Decode(data, t); err != nil {
		return nil, err
	}
	for _, p := range t.prices() {
		if *p.v < 0 || *p.v > maxPrice || math.IsNaN(*p.v) {
			return nil, sandstep.Invalid(p.field, "must be a price in US dollars per unit, from 0 to %g, got %g", maxPrice, *p.v)
		}
	}
	return t, nil
}

type price struct {
	field string
	v     *float64
}

// field is a price's path in the document and where the table keeps it.
type field struct {
	field string
	v     **float64
}

func (t *Table) fields() []field {
	return []field{
		{"daytona.vcpuSecond", &t.Daytona.VCPUSecond},
		{"daytona.memoryGiBSecond", &t.Daytona.MemoryGiBSecond},
		{"daytona.diskGiBSecond", &t.Daytona.DiskGiBSecond},
		{"lambda.gbSecond", &t.Lambda.GBSecond},
		{"lambda.request", &t.Lambda.Request},
		{"stepFunctions.transition", &t.StepFunctions.Transition},
		{"dynamodb.writeUnit", &t.DynamoDB.WriteUnit},
		{"dynamodb.readUnit", &t.DynamoDB.ReadUnit},
		{"s3.put", &t.S3.Put},
		{"s3.get", &t.S3.Get},
	}
}

// prices lists every price with its path; a field the document set to
// null keeps its default.
func (t *Table) prices() []price {
	d := Defaults().fields()
	out := make([]price, 0, len(d))
	for i, p := range t.fields() {
		if *p.v == nil {
			*p.v = *d[i].v
		}
		out = append(out, price{p.field, *p.v})
	}
	return out
}

// String is the table as a line of text, for the cold start's log.
func (t *Table) String() string {
	var b strings.Builder
	b.WriteString(t.Source)
	for _, p := range t.prices() {
		fmt.Fprintf(&b, " %s=%s", p.field, formatPrice(*p.v))
	}
	return b.String()
}

func formatPrice(v float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.12f", v), "0"), ".")
}
