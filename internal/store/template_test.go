package store_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	cfn "github.com/awslabs/goformation/v7/cloudformation/dynamodb"
	"gopkg.in/yaml.v3"

	"github.com/sandstep/sandstep/internal/dynamo"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// templatePath is template.yaml, relative to this package's directory.
const templatePath = "../../template.yaml"

// tableFacts describes a table as sorted "what: value" lines, so that two
// descriptions compare line by line and a difference reads as a diff.
type tableFacts []string

func (f *tableFacts) add(format string, args ...any) { *f = append(*f, fmt.Sprintf(format, args...)) }

func (f tableFacts) sorted() tableFacts {
	out := slices.Clone(f)
	slices.Sort(out)
	return out
}

// diff returns the lines only in want ("-") and only in got ("+").
func diff(want, got tableFacts) string {
	var b strings.Builder
	for _, l := range want.sorted() {
		if !slices.Contains(got, l) {
			fmt.Fprintf(&b, "  - %s   (store)\n", l)
		}
	}
	for _, l := range got.sorted() {
		if !slices.Contains(want, l) {
			fmt.Fprintf(&b, "  + %s   (template)\n", l)
		}
	}
	return b.String()
}

func storeFacts(def *dynamo.CreateTableInput, withSettings bool) tableFacts {
	var f tableFacts
	for _, a := range def.AttributeDefinitions {
		f.add("attribute %s: %s", aws.ToString(a.AttributeName), a.AttributeType)
	}
	for _, k := range def.KeySchema {
		f.add("key %s: %s", aws.ToString(k.AttributeName), k.KeyType)
	}
	for _, g := range def.GlobalSecondaryIndexes {
		name := aws.ToString(g.IndexName)
		for _, k := range g.KeySchema {
			f.add("gsi %s key %s: %s", name, aws.ToString(k.AttributeName), k.KeyType)
		}
		f.add("gsi %s projection: %s %v", name, g.Projection.ProjectionType, g.Projection.NonKeyAttributes)
	}
	// The definition's type has neither local indexes nor provisioned
	// throughput: the template must have none either.
	f.add("local secondary indexes: 0")
	if withSettings {
		f.add("billing mode: %s", def.BillingMode)
		f.add("provisioned throughput: false")
		f.add("ttl attribute: %s", store.TTLAttribute)
		f.add("ttl enabled: true")
		f.add("point-in-time recovery: %v", store.PointInTimeRecovery)
		f.add("encryption at rest: %v", def.SSESpecification != nil && aws.ToBool(def.SSESpecification.Enabled))
	}
	return f
}

func templateFacts(tb *cfn.Table) tableFacts {
	var f tableFacts
	for _, a := range tb.AttributeDefinitions {
		f.add("attribute %s: %s", a.AttributeName, a.AttributeType)
	}
	for _, k := range tb.KeySchema {
		f.add("key %s: %s", k.AttributeName, k.KeyType)
	}
	for _, g := range tb.GlobalSecondaryIndexes {
		for _, k := range g.KeySchema {
			f.add("gsi %s key %s: %s", g.IndexName, k.AttributeName, k.KeyType)
		}
		proj, nonKey := "", []string(nil)
		if g.Projection != nil {
			proj, nonKey = aws.ToString(g.Projection.ProjectionType), g.Projection.NonKeyAttributes
		}
		f.add("gsi %s projection: %s %v", g.IndexName, proj, nonKey)
	}
	f.add("local secondary indexes: %d", len(tb.LocalSecondaryIndexes))
	f.add("billing mode: %s", aws.ToString(tb.BillingMode))
	f.add("provisioned throughput: %v", tb.ProvisionedThroughput != nil)
	if ttl := tb.TimeToLiveSpecification; ttl != nil {
		f.add("ttl attribute: %s", aws.ToString(ttl.AttributeName))
		f.add("ttl enabled: %v", ttl.Enabled)
	} else {
		f.add("ttl attribute: (none)")
	}
	pitr := tb.PointInTimeRecoverySpecification != nil && aws.ToBool(tb.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled)
	f.add("point-in-time recovery: %v", pitr)
	f.add("encryption at rest: %v", tb.SSESpecification != nil && tb.SSESpecification.SSEEnabled)
	return f
}

// TestTemplateDeclaresTheStoresTable: the table in template.yaml is the one
// TableDefinition describes (keys, attributes, GSI and projection, billing,
// TTL attribute, point-in-time recovery, encryption).
func TestTemplateDeclaresTheStoresTable(t *testing.T) {
	tmpl := openTableResources(t)
	tables := tmpl.GetAllDynamoDBTableResources()
	if len(tables) != 1 {
		names := make([]string, 0, len(tables))
		for n := range tables {
			names = append(names, n)
		}
		t.Fatalf("%s declares %d AWS::DynamoDB::Table resources (%v), want exactly 1", templatePath, len(tables), names)
	}
	for name, tb := range tables {
		want := storeFacts(store.TableDefinition("x"), true)
		got := templateFacts(tb)
		if d := diff(want, got); d != "" {
			t.Fatalf("%s resource %s differs from store.TableDefinition:\n%s", templatePath, name, d)
		}
	}
}

// openTableResources parses the AWS::DynamoDB::Table resources of
// template.yaml with goformation. They are cut out of the template first
// (keeping their YAML, tags and all), so that a part of the template that
// goformation cannot read (it rejects, for one, a number among a function's
// environment variables) does not hide the table.
func openTableResources(t *testing.T) *cloudformation.Template {
	t.Helper()
	raw, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s is not YAML: %v", templatePath, err)
	}
	root := doc.Content[0]
	tables := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "Resources" {
			continue
		}
		res := root.Content[i+1]
		for j := 0; j+1 < len(res.Content); j += 2 {
			body := res.Content[j+1]
			for k := 0; k+1 < len(body.Content); k += 2 {
				if body.Content[k].Value == "Type" && body.Content[k+1].Value == "AWS::DynamoDB::Table" {
					tables.Content = append(tables.Content, res.Content[j], body)
				}
			}
		}
	}
	out, err := yaml.Marshal(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: "Resources"}, tables,
	}})
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := goformation.ParseYAML(out)
	if err != nil {
		t.Fatalf("goformation cannot parse the table resources of %s: %v", templatePath, err)
	}
	return tmpl
}

// TestCreateTableUsesTheDefinition: the table CreateTable makes (as the
// tests and the local stack do) has the definition's keys and index.
func TestCreateTableUsesTheDefinition(t *testing.T) {
	_, client, table := storetest.New(t, store.Options{})
	out, err := client.DescribeTable(ctx(t), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	d := out.Table
	described := &dynamo.CreateTableInput{
		AttributeDefinitions: d.AttributeDefinitions,
		KeySchema:            d.KeySchema,
	}
	for _, g := range d.GlobalSecondaryIndexes {
		described.GlobalSecondaryIndexes = append(described.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection,
		})
	}
	// minidyn describes no attribute definitions: compare keys and index.
	keysOnly := func(f tableFacts) tableFacts {
		return slices.DeleteFunc(f, func(l string) bool { return strings.HasPrefix(l, "attribute ") })
	}
	if len(keysOnly(storeFacts(described, false))) < 5 {
		t.Fatalf("DescribeTable told too little: %v", storeFacts(described, false))
	}
	if dd := diff(keysOnly(storeFacts(store.TableDefinition(table), false)), keysOnly(storeFacts(described, false))); dd != "" {
		t.Fatalf("created table differs from TableDefinition:\n%s", dd)
	}
}

// TestTemplateDiffIsReadable guards the comparison itself: a template that
// disagrees must produce a diff naming the disagreement.
func TestTemplateDiffIsReadable(t *testing.T) {
	tb := &cfn.Table{}
	def := store.TableDefinition("x")
	for _, a := range def.AttributeDefinitions {
		tb.AttributeDefinitions = append(tb.AttributeDefinitions, cfn.Table_AttributeDefinition{AttributeName: aws.ToString(a.AttributeName), AttributeType: string(a.AttributeType)})
	}
	for _, k := range def.KeySchema {
		tb.KeySchema = append(tb.KeySchema, cfn.Table_KeySchema{AttributeName: aws.ToString(k.AttributeName), KeyType: string(k.KeyType)})
	}
	tb.BillingMode = aws.String("PROVISIONED")
	tb.TimeToLiveSpecification = &cfn.Table_TimeToLiveSpecification{AttributeName: aws.String("ttl"), Enabled: true}
	d := diff(storeFacts(def, true), templateFacts(tb))
	for _, want := range []string{
		"- billing mode: PAY_PER_REQUEST", "+ billing mode: PROVISIONED",
		"- ttl attribute: expiresAt", "+ ttl attribute: ttl",
		"- gsi GSI1 key GSI1PK: HASH", "- point-in-time recovery: true", "+ point-in-time recovery: false",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("diff lacks %q:\n%s", want, d)
		}
	}
}
