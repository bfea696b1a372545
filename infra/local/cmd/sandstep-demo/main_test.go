package main

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/infra/local"
	"github.com/sandstep/sandstep/internal/sfnlocal"
	"github.com/sandstep/sandstep/internal/testutil"
)

func TestDemoAgainstARunningStack(t *testing.T) {
	testutil.NeedNode(t, sfnlocal.RunnerInstalled())
	st, err := local.Start(context.Background(), local.Options{
		Getenv:       func(string) string { return "" },
		LogWriter:    io.Discard,
		TemplatePath: "../../../../template.yaml",
		DataDir:      t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	env := map[string]string{
		"SANDSTEP_API_URL":      st.APIURL,
		"SANDSTEP_DYNAMODB_URL": st.DynamoDBURL,
		"SANDSTEP_DAYTONA_URL":  st.DaytonaURL,
	}
	var stdout, stderr strings.Builder
	if code := run(func(k string) string { return env[k] }, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "demo passed") || !strings.Contains(stdout.String(), "Daytona ("+st.DaytonaURL+")") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
}

func TestNothingAtTheGivenURLIsAnError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	_ = ln.Close()
	var stdout, stderr strings.Builder
	code := run(func(k string) string {
		if k == "SANDSTEP_API_URL" {
			return url
		}
		return ""
	}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "nothing answers at SANDSTEP_API_URL="+url) {
		t.Errorf("exit code %d, stderr %q", code, stderr.String())
	}
}
