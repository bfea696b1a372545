package daytona

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// decodeExec decodes like ExecuteCommand with the given output limit.
func decodeExec(body string, limit int64) (ExecuteResponse, error) {
	var out ExecuteResponse
	err := decodeBoundedObject(strings.NewReader(body), []jsonField{
		{name: "exitCode", num: &out.ExitCode},
		{name: "result", str: &out.Result, limit: limit, trunc: &out.Truncated},
	})
	return out, err
}

func TestBoundedJSON(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		limit     int64
		want      ExecuteResponse
		wantError bool
	}{
		{name: "plain", body: `{"exitCode":1,"result":"a\nb"}`, limit: 100, want: ExecuteResponse{ExitCode: 1, Result: "a\nb"}},
		{name: "exit code after result", body: `{"result":"xyz","exitCode":7}`, limit: 100, want: ExecuteResponse{ExitCode: 7, Result: "xyz"}},
		{name: "cut, exit code after", body: `{"result":"0123456789","exitCode":2}`, limit: 4, want: ExecuteResponse{ExitCode: 2, Result: "0123", Truncated: true}},
		{name: "exactly the limit", body: `{"result":"0123","exitCode":0}`, limit: 4, want: ExecuteResponse{Result: "0123"}},
		{name: "cut never splits a character", body: `{"result":"ab€cd"}`, limit: 4, want: ExecuteResponse{Result: "ab", Truncated: true}},
		{name: "escapes", body: `{"result":"q\"b\\s\/n\n\t\u00e9\ud83c\udf89"}`, limit: 100, want: ExecuteResponse{Result: "q\"b\\s/n\n\té🎉"}},
		{name: "lone surrogate", body: `{"result":"\ud800x"}`, limit: 100, want: ExecuteResponse{Result: "\uFFFDx"}},
		{name: "invalid utf8", body: "{\"result\":\"a\xffb\"}", limit: 100, want: ExecuteResponse{Result: "a\uFFFDb"}},
		{name: "unknown members skipped", body: `{"x":{"y":[1,2,{"z":"\""}],"w":null},"result":"r","n":-1.5e3,"t":true}`, limit: 100, want: ExecuteResponse{Result: "r"}},
		{name: "case-insensitive names", body: `{"ExitCode":4,"RESULT":"r"}`, limit: 100, want: ExecuteResponse{ExitCode: 4, Result: "r"}},
		{name: "last duplicate wins", body: `{"result":"a","result":"b"}`, limit: 100, want: ExecuteResponse{Result: "b"}},
		{name: "null", body: `null`, limit: 100},
		{name: "whitespace", body: " {\n \"result\" : \"r\" ,\t\"exitCode\" : 0 } \n", limit: 100, want: ExecuteResponse{Result: "r"}},
		{name: "not an object", body: `[1]`, limit: 100, wantError: true},
		{name: "truncated body", body: `{"result":"abc`, limit: 100, wantError: true},
		{name: "trailing garbage", body: `{"result":"a"} x`, limit: 100, wantError: true},
		{name: "float exit code", body: `{"exitCode":1.5}`, limit: 100, wantError: true},
		{name: "string exit code", body: `{"exitCode":"1"}`, limit: 100, wantError: true},
		{name: "control char in string", body: "{\"result\":\"a\x01\"}", limit: 100, wantError: true},
		{name: "bad escape", body: `{"result":"\x"}`, limit: 100, wantError: true},
		{name: "empty", body: ``, limit: 100, wantError: true},
		{name: "html", body: `<html>`, limit: 100, wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeExec(tt.body, tt.limit)
			if (err != nil) != tt.wantError {
				t.Fatalf("err = %v, wantError %v", err, tt.wantError)
			}
			if !tt.wantError && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// endless is an io.Reader producing {"result":"xxxx... forever; the decoder
// must keep only the limit.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestBoundedJSONKeepsOnlyTheLimit(t *testing.T) {
	const size = 8 << 20
	body := io.MultiReader(strings.NewReader(`{"result":"`), io.LimitReader(repeatReader('x'), size), strings.NewReader(`","exitCode":9}`))
	cr := &countingReader{r: body}
	var out ExecuteResponse
	err := decodeBoundedObject(cr, []jsonField{
		{name: "exitCode", num: &out.ExitCode},
		{name: "result", str: &out.Result, limit: 1024, trunc: &out.Truncated},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Result) != 1024 || !out.Truncated || out.ExitCode != 9 {
		t.Errorf("len(result)=%d truncated=%v exit=%d", len(out.Result), out.Truncated, out.ExitCode)
	}
	if cr.n < size {
		t.Errorf("read %d bytes; the exit code after the output must still be read", cr.n)
	}
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

func FuzzBoundedJSON(f *testing.F) {
	for _, s := range []string{
		`{"exitCode":1,"result":"a\nb"}`, `{"result":"\ud83c\udf89\u00e9x","exitCode":-0}`,
		`{"RESULT":"a","result":"b","x":[{}],"exitcode":3}`, "{\"result\":\"\xe2\x82\\u00ac\"}",
		`{"result":null,"exitCode":null}`, `{"result":"\ud800\udc00\udc00"}`, `null`, `{"a":1e5}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var want struct {
			ExitCode int    `json:"exitCode"`
			Result   string `json:"result"`
		}
		stdErr := json.Unmarshal([]byte(body), &want)
		got, err := decodeExec(body, 1<<20)
		// The streaming decoder must never accept what encoding/json
		// rejects as malformed, and must agree on every accepted value.
		var syn *json.SyntaxError
		if errors.As(stdErr, &syn) && err == nil {
			t.Fatalf("accepted malformed JSON %q (encoding/json: %v)", body, stdErr)
		}
		if stdErr == nil {
			if err != nil {
				t.Fatalf("rejected %q: %v", body, err)
			}
			if got.ExitCode != want.ExitCode || got.Result != want.Result || got.Truncated {
				t.Fatalf("%q: got %+v, encoding/json %+v", body, got, want)
			}
		}
		// Any limit gives a prefix of the full value.
		if err == nil && len(got.Result) > 0 {
			for _, lim := range []int64{0, 1, 3, int64(len(got.Result) / 2)} {
				cut, err := decodeExec(body, lim)
				if err != nil {
					t.Fatalf("limit %d: %v", lim, err)
				}
				if int64(len(cut.Result)) > lim || !strings.HasPrefix(got.Result, cut.Result) {
					t.Fatalf("limit %d: %q is not a bounded prefix of %q", lim, cut.Result, got.Result)
				}
			}
		}
	})
}
