package main

import (
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{
			name: "medians and ratios per pair",
			in: `goos: linux
BenchmarkLifecycle/create/handler-2         	       8	 130000000 ns/op	  1 B/op
BenchmarkLifecycle/create/handler-2         	       8	 150000000 ns/op
BenchmarkLifecycle/create/handler-2         	       8	 120000000 ns/op
BenchmarkLifecycle/create/bare-2            	      10	 110000000 ns/op
BenchmarkLifecycle/create/bare-2            	      10	 100000000 ns/op
BenchmarkLifecycle/exec/handler-2           	      10	  66000000 ns/op
BenchmarkLifecycle/exec/handler-first-2     	      10	  72000000 ns/op
BenchmarkLifecycle/exec/bare-session-2      	      10	  60000000 ns/op
BenchmarkLifecycle/exec/bare-execute-2      	      10	  20000000 ns/op
BenchmarkStore/reserve-2                    	      10	   1000000 ns/op
PASS
`,
			want: `| call | handler | bare | bare call | ratio | runs |
|---|---|---|---|---|---|
| create | 130.0 ms | 105.0 ms | bare | 1.24 | 3/2 |
| exec | 66.0 ms | 60.0 ms | bare-session | 1.10 | 1/1 |
| exec | 66.0 ms | 20.0 ms | bare-execute | 3.30 | 1/1 |
| exec first | 72.0 ms | 60.0 ms | bare-session | 1.20 | 1/1 |
| exec first | 72.0 ms | 20.0 ms | bare-execute | 3.60 | 1/1 |
`,
		},
		{
			name: "a handler without its bare call is left out",
			in: `BenchmarkLifecycle/status/handler	10	25000000 ns/op
BenchmarkLifecycle/delete/handler	10	45000000 ns/op
BenchmarkLifecycle/delete/bare	10	30000000 ns/op
`,
			want: `| call | handler | bare | bare call | ratio | runs |
|---|---|---|---|---|---|
| delete | 45.0 ms | 30.0 ms | bare | 1.50 | 1/1 |
`,
		},
		{name: "no pairs", in: "FAIL\n", err: "no benchmark pairs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			err := run(strings.NewReader(tt.in), &out)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", out.String(), tt.want)
			}
		})
	}
}
