package service

import (
	"context"
	"testing"
)

// POST /tasks never answers usage without its cost (README, "Task
// cost"): the create function, which answers it, has no price table
// (PRICE_TABLE_REF reaches only the functions that show a cost), so it
// shows neither, and GET /tasks/{id} shows both.
func TestStartAnswersNoUsageWithoutCost(t *testing.T) {
	h := newUsageHarness(t, nil)
	ctx := context.Background()
	started, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "make", TimeoutSeconds: intp(600)})
	if err != nil {
		t.Fatal(err)
	}
	if (started.Usage == nil) != (started.Cost == nil) {
		t.Errorf("POST /tasks answered usage %+v with cost %+v; want both or neither", started.Usage, started.Cost)
	}
	got, err := h.svc.GetTask(ctx, alice(), started.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Usage == nil || got.Cost == nil {
		t.Errorf("GET shows usage %+v, cost %+v; want both", got.Usage, got.Cost)
	}
}
