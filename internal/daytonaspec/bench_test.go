package daytonaspec

import (
	"net/http"
	"strings"
	"testing"
)

// BenchmarkParse measures the uncached load of both specs (what LoadDir
// saves every test after the first).
func BenchmarkParse(b *testing.B) {
	dir, err := SpecDir()
	if err != nil {
		b.Skip(err.Error())
	}
	for b.Loop() {
		if _, err := parseDir(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckExchange measures validating one create-sandbox request
// and its Sandbox response.
func BenchmarkCheckExchange(b *testing.B) {
	spec := Load(b)
	const reqBody = `{"name":"sbx-1","snapshot":"s","labels":{"a":"b"},"autoStopInterval":15}`
	resp := []byte(sandboxBody(b, nil))
	hdr := http.Header{"Content-Type": {"application/json"}}
	for b.Loop() {
		req, _ := http.NewRequest("POST", "http://127.0.0.1:3003/api/sandbox", strings.NewReader(reqBody))
		req.Header.Set("Authorization", "Bearer k")
		req.Header.Set("Content-Type", "application/json")
		if vs := spec.CheckRequest(req); len(vs) != 0 {
			b.Fatal(vs)
		}
		if vs := spec.CheckResponse(req, 200, hdr, resp); len(vs) != 0 {
			b.Fatal(vs)
		}
	}
}
