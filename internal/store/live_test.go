package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// TestLiveRecordsSortsTasks: one scan returns the tasks not ended and,
// apart, the ended ones whose notice is pending; nothing else.
func TestLiveRecordsSortsTasks(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 10})
	c := ctx(t)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	notice := func(status sandstep.NoticeStatus) *sandstep.TaskNotice {
		return &sandstep.TaskNotice{URL: "https://hooks.example.com/x", Host: "hooks.example.com", DeliveryID: "dlv_x", Status: status}
	}
	tasks := []struct {
		id     string
		status sandstep.TaskStatus
		notice *sandstep.TaskNotice
	}{
		{"tsk_aaaaaaaaaaaaaaaaaaaaaaaaaa", sandstep.TaskSucceeded, notice(sandstep.NoticePending)},
		{"tsk_bbbbbbbbbbbbbbbbbbbbbbbbbb", sandstep.TaskCancelled, notice(sandstep.NoticePending)},
		{"tsk_cccccccccccccccccccccccccc", sandstep.TaskRunning, notice(sandstep.NoticePending)}, // not ended yet
		{"tsk_dddddddddddddddddddddddddd", sandstep.TaskFailed, notice(sandstep.NoticeDelivered)},
		{"tsk_eeeeeeeeeeeeeeeeeeeeeeeeee", sandstep.TaskFailed, notice(sandstep.NoticeFailed)},
		{"tsk_ffffffffffffffffffffffffff", sandstep.TaskSucceeded, nil},
	}
	for _, tk := range tasks {
		rec := &sandstep.Task{ID: tk.id, Owner: "u", Status: tk.status, CreatedAt: now, Notify: tk.notice}
		if tk.status.Terminal() {
			rec.FinishedAt = &now
		}
		if err := st.PutTask(c, rec); err != nil {
			t.Fatal(err)
		}
	}
	found, err := st.LiveRecords(c)
	if err != nil {
		t.Fatal(err)
	}
	sandboxes, live, got := found.Sandboxes, found.Tasks, found.Notices
	if len(sandboxes) != 0 || len(live) != 1 || live[0].ID != tasks[2].id {
		t.Errorf("sandboxes %d, live tasks %v; want none and %s", len(sandboxes), live, tasks[2].id)
	}
	var ids []string
	for _, tk := range got {
		ids = append(ids, tk.ID)
		if tk.Notify == nil || tk.Notify.URL == "" || tk.Notify.DeliveryID != "dlv_x" {
			t.Errorf("%s: notice %+v, want it whole", tk.ID, tk.Notify)
		}
	}
	slices.Sort(ids)
	if want := []string{tasks[0].id, tasks[1].id}; !slices.Equal(ids, want) {
		t.Errorf("pending notices of %v, want %v", ids, want)
	}
}
