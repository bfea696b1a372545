package local

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/service"
)

// Two deployments share one Daytona server, each with its reaper on a
// short schedule: each deletes its own orphan and touches nothing of the
// other's, nor a sandbox of a third deployment.
func TestReapersOfTwoDeploymentsShareADaytona(t *testing.T) {
	every := func(o *Options) { o.ScheduleEvery = 200 * time.Millisecond }
	a := startStack(t, map[string]string{"STACK_NAME": "alpha"}, every)
	b := startStack(t, map[string]string{"STACK_NAME": "beta", "DAYTONA_API_KEY": LocalDaytonaKey, "DAYTONA_API_URL": a.DaytonaURL}, every)
	dc, err := daytona.New(daytona.Config{APIKey: LocalDaytonaKey, APIURL: a.DaytonaURL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kept := map[string]bool{}
	var orphans []string
	for _, s := range []*testStack{a, b} {
		sb := s.create("alice", map[string]any{})
		kept[sb.ID] = true
		got, err := dc.GetSandbox(ctx, sb.ID)
		if err != nil {
			t.Fatal(err)
		}
		// What a crash between Daytona's create and the record would leave,
		// were the record not written first: a labelled sandbox no record owns.
		orphan, err := dc.CreateSandbox(ctx, daytona.CreateSandboxParams{Name: "orphan-" + sb.ID,
			Labels: map[string]string{service.LabelDeployment: got.Labels[service.LabelDeployment]}})
		if err != nil {
			t.Fatal(err)
		}
		orphans = append(orphans, orphan.Name)
	}
	third, err := dc.CreateSandbox(ctx, daytona.CreateSandboxParams{Name: "someone-else",
		Labels: map[string]string{service.LabelDeployment: "gamma-zzzzzzzz"}})
	if err != nil {
		t.Fatal(err)
	}
	kept[third.Name] = true

	deadline := time.Now().Add(30 * time.Second)
	for _, name := range orphans {
		for {
			if _, err := dc.GetSandbox(ctx, name); daytona.IsNotFound(err) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("orphan %s still there after 30 s", name)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(time.Second) // a few more runs of both reapers
	for name := range kept {
		if sb, err := dc.GetSandbox(ctx, name); err != nil || sb.State != daytona.StateStarted {
			t.Errorf("%s: %+v, %v; want it left running", name, sb, err)
		}
	}
	for _, s := range []*testStack{a, b} {
		res := s.as("alice", http.MethodGet, "/sandboxes", nil)
		var list struct {
			Items []sandboxJSON `json:"items"`
		}
		res.decode(t, &list)
		if len(list.Items) != 1 || list.Items[0].State != "ready" {
			t.Errorf("%s lists %+v, want its one sandbox ready", s.APIURL, list.Items)
		}
	}
}
