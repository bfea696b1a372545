package local

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/daytonalocal"
)

func demoOptions(s *testStack, out *strings.Builder) DemoOptions {
	return DemoOptions{
		APIURL:      s.APIURL,
		DynamoDBURL: s.DynamoDBURL,
		TableName:   s.Config.TableName,
		DaytonaURL:  s.DaytonaURL,
		Out:         out,
	}
}

func TestDemoWalksThroughTheAPI(t *testing.T) {
	s := startStack(t, nil)
	var out strings.Builder
	if err := RunDemo(context.Background(), demoOptions(s, &out)); err != nil {
		t.Fatalf("RunDemo: %v\noutput:\n%s", err, out.String())
	}
	for _, want := range []string{
		"[1] a request without a token is refused", "-> 401",
		"[3] create a sandbox with a small project uploaded", "upload demo/main.sh",
		"| Hello, Ada!", "| Hello, Grace!",
		"exit code 3", "| to stderr",
		"[9] start a long task (POST /tasks)", "stdout | building part 5 of 5", "stderr | warning: part 5 is slow",
		`out/report.txt (a presigned link) -> 200 "5 parts built\n"`, "-> succeeded, exit code 0",
		"[13] quota and sandboxes are back to zero", "active sandboxes: 0", "0 slot(s) held", "0 sandbox(es) labelled",
		"demo passed",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "FAILED") {
		t.Errorf("the demo printed a failure:\n%s", out.String())
	}
}

func TestDemoFailsWhenAStepIsWrong(t *testing.T) {
	s := startStack(t, nil)
	// The user already holds a sandbox, so the quota does not start at
	// zero: the demo must say so, and leave that sandbox alone.
	held := s.create("demo-user", nil)
	var out strings.Builder
	o := demoOptions(s, &out)
	o.User = "demo-user"
	err := RunDemo(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "step 2 (the quota starts at zero)") {
		t.Fatalf("RunDemo = %v, want a failure of step 2\noutput:\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "FAILED: the user holds 1 quota slot(s), want 0") {
		t.Errorf("output lacks the failure:\n%s", out.String())
	}
	var sb sandboxJSON
	s.as("demo-user", http.MethodGet, "/sandboxes/"+held.ID, nil).decode(t, &sb)
	if sb.State != "ready" {
		t.Errorf("the user's own sandbox is %q, want it untouched (ready)", sb.State)
	}
}

func TestDemoCleansUpAfterAFailure(t *testing.T) {
	s := startStack(t, map[string]string{"DEFAULT_USER_QUOTA": "1"})
	// Every command fails at Daytona, so the demo fails after its create.
	if _, err := s.daytona.AddFault(daytonalocal.Fault{
		Kind: daytonalocal.FaultError, Status: http.StatusBadRequest, Message: "injected",
		Match: daytonalocal.Match{Path: "/toolbox/*/process/**"},
	}); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	o := demoOptions(s, &out)
	o.User = "demo-cleanup"
	err := RunDemo(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "step 5 (run the project)") {
		t.Fatalf("RunDemo = %v, want step 5 to fail\noutput:\n%s", err, out.String())
	}
	// Its sandbox was deleted, so the quota of 1 is free again.
	s.create("demo-cleanup", nil)
}
