package samtemplate

import (
	"fmt"
	"testing"
)

func TestMatch(t *testing.T) {
	routes := []Route{
		{Method: "GET", Path: "/sandboxes", Function: "List"},
		{Method: "GET", Path: "/sandboxes/{id}", Function: "Get"},
		{Method: "GET", Path: "/sandboxes/mine", Function: "Mine"},
		{Method: "POST", Path: "/sandboxes/{id}/exec", Function: "Exec"},
		{Method: "ANY", Path: "/sandboxes/{id}/exec", Function: "AnyExec"},
		{Method: "GET", Path: "/files/{path+}", Function: "Files"},
		{Method: "GET", Path: "/files/{dir}/index", Function: "Index"},
		{Method: "DELETE", Path: "/sandboxes/{id}", Function: "Delete"},
	}
	tests := []struct {
		method, path string
		want         string // function, "" for no match
		params       map[string]string
	}{
		{"GET", "/sandboxes", "List", map[string]string{}},
		{"get", "/sandboxes/sbx_1", "Get", map[string]string{"id": "sbx_1"}},
		{"GET", "/sandboxes/mine", "Mine", map[string]string{}}, // literal beats {id}
		{"DELETE", "/sandboxes/sbx_1", "Delete", map[string]string{"id": "sbx_1"}},
		{"POST", "/sandboxes/sbx_1/exec", "Exec", map[string]string{"id": "sbx_1"}}, // method beats ANY
		{"PUT", "/sandboxes/sbx_1/exec", "AnyExec", map[string]string{"id": "sbx_1"}},
		{"GET", "/files/a/b/c", "Files", map[string]string{"path": "a/b/c"}},
		{"GET", "/files/a", "Files", map[string]string{"path": "a"}},
		{"GET", "/files/a/index", "Index", map[string]string{"dir": "a"}}, // variable beats greedy
		{"GET", "/files", "", nil},  // a greedy variable needs a segment
		{"GET", "/files/", "", nil}, // ... that is not empty
		{"GET", "/sandboxes/", "", nil},
		{"GET", "/sandboxes/sbx_1/extra", "", nil},
		{"POST", "/sandboxes", "", nil},
		{"GET", "/nothing", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r, params, ok := Match(routes, tt.method, tt.path)
			if tt.want == "" {
				if ok {
					t.Errorf("matched %s, want no match", r.Function)
				}
				return
			}
			if !ok || r.Function != tt.want {
				t.Fatalf("matched %q (ok %v), want %s", r.Function, ok, tt.want)
			}
			if fmt.Sprint(params) != fmt.Sprint(tt.params) {
				t.Errorf("params = %v, want %v", params, tt.params)
			}
		})
	}
}

// The repository's routes through Match: every route finds itself with a
// concrete id.
func TestMatchRepoRoutes(t *testing.T) {
	tpl := loadRepo(t)
	routes := tpl.Routes()
	tests := []struct {
		method, path, fn, id string
	}{
		{"POST", "/sandboxes", "CreateFunction", ""},
		{"GET", "/sandboxes", "StatusFunction", ""},
		{"GET", "/sandboxes/sbx_abc", "StatusFunction", "sbx_abc"},
		{"DELETE", "/sandboxes/sbx_abc", "DeleteFunction", "sbx_abc"},
		{"POST", "/sandboxes/sbx_abc/exec", "ExecuteFunction", "sbx_abc"},
		{"POST", "/api/agent/execute", "ExecuteFunction", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r, params, ok := Match(routes, tt.method, tt.path)
			if !ok || r.Function != tt.fn || params["id"] != tt.id {
				t.Errorf("Match = %s %v %v, want %s id=%q", r.Function, params, ok, tt.fn, tt.id)
			}
		})
	}
}

func BenchmarkMatch(b *testing.B) {
	tpl, err := Load(repoTemplate)
	if err != nil {
		b.Fatal(err)
	}
	routes := tpl.Routes()
	for b.Loop() {
		if _, _, ok := Match(routes, "POST", "/sandboxes/sbx_abc/exec"); !ok {
			b.Fatal("no match")
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := Load(repoTemplate); err != nil {
			b.Fatal(err)
		}
	}
}
