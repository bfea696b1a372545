package store_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/dynamo"
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
	found, err := st.LiveRecords(c, true)
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

// TestLiveRecordsReadsEveryPage: the scan follows DynamoDB's pages to the
// end. minidyn answers a scan in one page, so a wire in front of it asks
// for pages of two items, as DynamoDB pages a large table by size.
func TestLiveRecordsReadsEveryPage(t *testing.T) {
	var pages atomic.Int32
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 10}, func(o *dynamo.Options) {
		target, err := url.Parse(o.Endpoint)
		if err != nil {
			t.Fatal(err)
		}
		proxy := httputil.NewSingleHostReverseProxy(target)
		small := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".Scan") {
				var in map[string]any
				if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
					t.Errorf("scan request: %v", err)
				}
				in["Limit"] = 2
				b, _ := json.Marshal(in)
				r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
				pages.Add(1)
			}
			proxy.ServeHTTP(w, r)
		}))
		t.Cleanup(small.Close)
		o.Endpoint = small.URL
	})
	c := ctx(t)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var want []string
	for i := range 7 {
		id := "tsk_" + strings.Repeat(string(rune('a'+i)), 26)
		rec := &sandstep.Task{ID: id, Owner: "u", Status: sandstep.TaskRunning, CreatedAt: now}
		if i%3 != 0 {
			// Ended, not live: the page of e and f keeps nothing, and
			// the scan must go on past it.
			rec.Status, rec.FinishedAt = sandstep.TaskSucceeded, &now
		} else {
			want = append(want, id)
		}
		if err := st.PutTask(c, rec); err != nil {
			t.Fatal(err)
		}
	}
	found, err := st.LiveRecords(c, true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range found.Tasks {
		got = append(got, tk.ID)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("live tasks %v, want %v", got, want)
	}
	if n := pages.Load(); n < 4 {
		t.Errorf("the scan read %d pages of two items, want at least 4 for 7 items and more", n)
	}
}
