package local

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A user pages through GET /tasks?status=all while the local table's TTL
// sweep deletes the task the cursor stands on (its TASK_RETENTION_DAYS
// ran out). DynamoDB goes on after an ExclusiveStartKey whether or not
// that item still exists; the local stack's DynamoDB must too, or every
// task after it drops out of the list: an empty last page, no cursor.
func TestListGoesOnPastASweptCursorItem(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d, st := retainingStore(t, now)
	ctx := context.Background()
	for i := range 4 {
		created := now.Add(time.Duration(i) * time.Second)
		finished := now.Add(10 * time.Hour)
		if i == 2 { // the second of the first page: its retention ends first
			finished = now.Add(-30 * time.Minute)
		}
		if err := st.PutTask(ctx, &sandstep.Task{ID: nthTaskID(i), Owner: "u", Status: sandstep.TaskSucceeded,
			CreatedAt: created, FinishedAt: &finished}); err != nil {
			t.Fatal(err)
		}
	}
	first, next, err := st.ListTasks(ctx, "u", 2, "")
	if err != nil || len(first) != 2 || first[1].ID != nthTaskID(2) || next == "" {
		t.Fatalf("first page: %d tasks, next %q, %v; want %s and %s, and a cursor", len(first), next, err, nthTaskID(3), nthTaskID(2))
	}
	d.now = func() time.Time { return now.Add(time.Hour) }
	if n, err := d.sweep(); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v; want the task whose retention ended", n, err)
	}
	second, more, err := st.ListTasks(ctx, "u", 2, next)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range second {
		got = append(got, tk.ID)
	}
	if len(got) != 2 || got[0] != nthTaskID(1) || got[1] != nthTaskID(0) || more != "" {
		t.Errorf("second page after the cursor's task was swept: %v, next %q; want [%s %s], the rest of the list", got, more, nthTaskID(1), nthTaskID(0))
	}
}
