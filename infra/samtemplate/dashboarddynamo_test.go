package samtemplate

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/sandstep/sandstep/internal/dynamo"
)

// The dashboard's "DynamoDB throttles and errors" shows AWS/DynamoDB's
// ThrottledRequests and SystemErrors, which DynamoDB publishes per
// TableName and Operation: an operation the widget does not name is not
// shown. The functions' table calls are internal/dynamo's Client methods;
// each one must be on the widget, or its throttles (the reaper's Scan of
// the Live index and its sweep, the issue claim's DeleteItem) are
// invisible to the operator reading it.
func TestDashboardShowsEveryTableOperation(t *testing.T) {
	// Not a table call the functions make: Warm dials, CreateTable is the
	// local stack's.
	notCalls := []string{"Warm", "CreateTable"}
	var used []string
	for m := range reflect.TypeFor[*dynamo.Client]().Methods() {
		if !slices.Contains(notCalls, m.Name) {
			used = append(used, m.Name)
		}
	}
	if len(used) == 0 {
		t.Fatal("internal/dynamo's Client has no table calls")
	}
	shown := dynamoOperationsShown(t)
	for _, metric := range []string{"ThrottledRequests", "SystemErrors"} {
		t.Run(metric, func(t *testing.T) {
			for _, op := range used {
				if !shown[metric][op] {
					t.Errorf("the dashboard shows no AWS/DynamoDB %s of Operation %s, which the functions call", metric, op)
				}
			}
		})
	}
}

// dynamoOperationsShown is, by AWS/DynamoDB metric, the Operation
// dimensions the dashboard's widgets show for the stack's table.
func dynamoOperationsShown(t *testing.T) map[string]map[string]bool {
	t.Helper()
	tpl := loadRepo(t)
	boards := tpl.Resources("AWS::CloudWatch::Dashboard")
	if len(boards) != 1 {
		t.Fatalf("%d dashboards, want 1", len(boards))
	}
	body, _ := boards[0].Properties["DashboardBody"].(string)
	var doc struct {
		Widgets []struct {
			Properties struct{ Metrics [][]any }
		}
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("DashboardBody is not JSON: %v", err)
	}
	shown := map[string]map[string]bool{}
	for _, w := range doc.Widgets {
		for _, m := range w.Properties.Metrics {
			if len(m) < 2 || m[0] != "AWS/DynamoDB" {
				continue
			}
			name, _ := m[1].(string)
			dims := map[string]string{}
			for i := 2; i+1 < len(m); i += 2 {
				k, _ := m[i].(string)
				v, _ := m[i+1].(string)
				dims[k] = v
			}
			if dims["TableName"] != "SandboxTable" || dims["Operation"] == "" {
				continue
			}
			if shown[name] == nil {
				shown[name] = map[string]bool{}
			}
			shown[name][dims["Operation"]] = true
		}
	}
	return shown
}
