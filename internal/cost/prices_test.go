package cost

import (
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

func TestParseReplacesTheDefaults(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(*Table) bool
	}{
		{"an empty document keeps every default", `{}`, func(tb *Table) bool {
			return tb.String() == strings.Replace(Defaults().String(), "default", "PRICE_TABLE_REF", 1)
		}},
		{"a price given replaces its default only", `{"lambda": {"gbSecond": 0.00001}}`, func(tb *Table) bool {
			return *tb.Lambda.GBSecond == 0.00001 && *tb.Lambda.Request == *Defaults().Lambda.Request
		}},
		{"every price given", `{"daytona": {"vcpuSecond": 1e-5, "memoryGiBSecond": 2e-6, "diskGiBSecond": 0},
			"lambda": {"gbSecond": 0.00002, "request": 0}, "stepFunctions": {"transition": 0.00003},
			"dynamodb": {"writeUnit": 0.000001, "readUnit": 0.0000002}, "s3": {"put": 0.00001, "get": 0.000001}}`, func(tb *Table) bool {
			return *tb.Daytona.VCPUSecond == 1e-5 && *tb.Daytona.DiskGiBSecond == 0 && *tb.StepFunctions.Transition == 0.00003 &&
				*tb.DynamoDB.ReadUnit == 0.0000002 && *tb.S3.Get == 0.000001
		}},
		{"null keeps the default", `{"s3": {"put": null}}`, func(tb *Table) bool { return *tb.S3.Put == *Defaults().S3.Put }},
		{"a section null keeps its defaults", `{"s3": null}`, func(tb *Table) bool { return *tb.S3.Get == *Defaults().S3.Get }},
		{"JSON's white space after it", "{\"s3\": {\"put\": 0.00001}} \t\r\n", func(tb *Table) bool { return *tb.S3.Put == 0.00001 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, err := Parse([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if tb.Source != "PRICE_TABLE_REF" || !tt.check(tb) {
				t.Errorf("table %s", tb)
			}
		})
	}
}

func TestParseRejectsNamingTheField(t *testing.T) {
	tests := []struct {
		name, doc, field, message string
	}{
		{"unknown section", `{"ec2": {}}`, "ec2", "unknown field"},
		{"unknown price", `{"lambda": {"gbSecnd": 1e-5}}`, "lambda.gbSecnd", "unknown field"},
		{"a string", `{"lambda": {"gbSecond": "0.00001"}}`, "lambda.gbSecond", "must be a number"},
		{"a section that is not an object", `{"s3": 5}`, "s3", "must be an object"},
		{"negative", `{"dynamodb": {"writeUnit": -0.1}}`, "dynamodb.writeUnit", "from 0 to 1"},
		{"a price per million given as per unit", `{"dynamodb": {"readUnit": 0.125e3}}`, "dynamodb.readUnit", "from 0 to 1"},
		{"a price given twice", `{"s3": {"put": 0.1, "put": 0.2}}`, "s3.put", "duplicate field"},
		{"not JSON", `{"s3": `, "", "malformed JSON"},
		{"two documents", `{} {}`, "", "after the JSON object"},
		{"a stray closing bracket after it", `{"lambda": {"gbSecond": 0.00001}} ]`, "", "after the JSON object"},
		{"a stray closing brace after it", `{"lambda": {"gbSecond": 0.00001}} }`, "", "after the JSON object"},
		{"a no-break space after it", "{}\u00a0", "", "after the JSON object"}, // JSON's white space only
		{"a form feed after it", "{}\f", "", "after the JSON object"},
		{"null for the document", `null`, "", "must be a JSON object"},
		{"an array for the document", `[]`, "", "must be a JSON object"},
		{"a number for the document", `5`, "", "must be a JSON object"},
		// encoding/json would match these in any case.
		{"a section in another case", `{"Lambda": {"gbSecond": 0.5}}`, "Lambda", "unknown field"},
		{"a price in another case", `{"lambda": {"GbSecond": 0.5}}`, "lambda.GbSecond", "unknown field"},
		{"a price in upper case", `{"daytona": {"VCPUSECOND": 0.5}}`, "daytona.VCPUSECOND", "unknown field"},
		// Not taken for lambda.request.
		{"a price of another section", `{"daytona": {"request": 0.1}}`, "daytona.request", "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != tt.field ||
				!strings.Contains(sandstep.ErrorMessage(err), tt.message) {
				t.Errorf("Parse(%s) = %v (field %q), want invalid naming %q, saying %q", tt.doc, err, sandstep.ErrorField(err), tt.field, tt.message)
			}
		})
	}
}

// The cold start logs a bad price table as fmt.Errorf("PRICE_TABLE_REF: %w",
// err) (internal/app, usage.go): its text says what is wrong once.
func TestParseErrorTextSaysTheFaultOnce(t *testing.T) {
	tests := []struct{ name, doc, fault string }{
		{"a bad value", `{"s3": x}`, "invalid character 'x' looking for beginning of value"},
		{"a bad key", `{"s3": {"put" 1}}`, "invalid character '1' after object key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse(%s) accepted it", tt.doc)
			}
			if n := strings.Count(err.Error(), tt.fault); n != 1 {
				t.Errorf("Parse(%s): %q says %q %d times, want once", tt.doc, err.Error(), tt.fault, n)
			}
		})
	}
}
