package app

import (
	"testing"
)

// A file path with a line break passes the service's checks, so the
// sandbox is made before the Daytona client refuses the upload: the caller
// waits for a create and a delete, and gets a 400 naming no field, quoting
// the client's own "files[0].Path". README promises a bad value is refused
// naming its field, and every input checked before anything is made.
func TestFilePathLineBreakRefusedBeforeCreate(t *testing.T) {
	tests := []struct {
		name, route, path string
		body              map[string]any
		field             string
	}{
		{name: "create, newline", route: "POST /sandboxes", path: "/sandboxes",
			body:  map[string]any{"files": []map[string]string{{"path": "notes\nsecond.txt", "contentBase64": b64("x")}}},
			field: "files[0].path"},
		{name: "agent execute, carriage return in the second file", route: "POST /api/agent/execute", path: "/api/agent/execute",
			body: map[string]any{"command": "true", "files": []map[string]string{
				{"path": "a.txt", "contentBase64": b64("x")},
				{"path": "b\r.txt", "contentBase64": b64("y")},
			}},
			field: "files[1].path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, nil)
			status, resp := s.call(t, "alice", tt.route, tt.path, tt.body)
			e, _ := resp["error"].(map[string]any)
			if status != 400 || e["field"] != tt.field {
				t.Errorf("status %d %v, want 400 naming %s", status, resp, tt.field)
			}
			if n := s.daytona.CreateRequests(); n != 0 {
				t.Errorf("%d Daytona creates for a request refused as invalid, want 0", n)
			}
		})
	}
}
