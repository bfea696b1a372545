package store_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// readAll follows the log from cursor to its current end.
func readAll(t *testing.T, st *store.Store, task, cursor string, limit int) ([]sandstep.LogChunk, string) {
	t.Helper()
	var all []sandstep.LogChunk
	for {
		chunks, next, err := st.ReadLogs(ctx(t), task, cursor, limit)
		if err != nil {
			t.Fatal(err)
		}
		if next == "" {
			t.Fatal("ReadLogs returned an empty cursor")
		}
		cursor = next
		if len(chunks) == 0 {
			return all, cursor
		}
		all = append(all, chunks...)
	}
}

func TestAppendAndReadLogs(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{})
	c := ctx(t)
	if err := st.AppendLog(c, "t1", "stdout", []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendLog(c, "t1", "stderr", []byte("oops\n")); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendLog(c, "t1", "stdout", nil); err != nil {
		t.Fatalf("empty append: %v", err)
	}
	// Another task's log, and the task's own audit events, do not mix in.
	if err := st.AppendLog(c, "t2", "stdout", []byte("other")); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendAudit(c, sandstep.AuditEvent{Action: "task.start", UserID: "u", TaskID: "t1"}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutTask(c, &sandstep.Task{ID: "t1", Owner: "u", Status: sandstep.TaskRunning}); err != nil {
		t.Fatal(err)
	}
	chunks, cursor := readAll(t, st, "t1", "", 0)
	want := []sandstep.LogChunk{{Seq: 1, Stream: "stdout", Data: "hello\n"}, {Seq: 2, Stream: "stderr", Data: "oops\n"}}
	if len(chunks) != len(want) {
		t.Fatalf("chunks = %+v", chunks)
	}
	for i := range want {
		if chunks[i].Seq != want[i].Seq || chunks[i].Stream != want[i].Stream || chunks[i].Data != want[i].Data || chunks[i].Time.IsZero() {
			t.Errorf("chunk %d = %+v, want %+v", i, chunks[i], want[i])
		}
	}
	// Reading on from the end gives nothing until more is appended.
	more, next, err := st.ReadLogs(c, "t1", cursor, 0)
	if err != nil || len(more) != 0 || next != cursor {
		t.Fatalf("read at end = %v, %q (cursor %q), %v", more, next, cursor, err)
	}
	if err := st.AppendLog(c, "t1", "stdout", []byte("again")); err != nil {
		t.Fatal(err)
	}
	more, _, err = st.ReadLogs(c, "t1", cursor, 0)
	if err != nil || len(more) != 1 || more[0].Data != "again" || more[0].Seq != 3 {
		t.Fatalf("read after append = %+v, %v", more, err)
	}
}

func TestAppendLogSplitsIntoBoundedChunks(t *testing.T) {
	st, client, table := storetest.New(t, store.Options{})
	c := ctx(t)
	// Multi-byte characters straddle every chunk boundary, and the data is
	// as large as one append may be.
	var b bytes.Buffer
	for b.Len() < store.MaxLogAppend-4 {
		b.WriteString("é€𝄞x")
	}
	data := b.Bytes()[:store.MaxLogAppend-4]
	if err := st.AppendLog(c, "t", "stdout", data); err != nil {
		t.Fatal(err)
	}
	chunks, _ := readAll(t, st, "t", "", 3)
	var got []byte
	for i, ch := range chunks {
		if len(ch.Data) > store.LogChunkSize {
			t.Fatalf("chunk %d holds %d bytes, over %d", i, len(ch.Data), store.LogChunkSize)
		}
		if i < len(chunks)-1 && !utf8.ValidString(ch.Data) {
			t.Errorf("chunk %d splits a character", i)
		}
		if ch.Seq != int64(i+1) {
			t.Fatalf("chunk %d has seq %d", i, ch.Seq)
		}
		got = append(got, ch.Data...)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes back, want the %d written", len(got), len(data))
	}
	if len(chunks) < store.MaxLogAppend/store.LogChunkSize {
		t.Fatalf("only %d chunks", len(chunks))
	}
	// Arbitrary bytes (not UTF-8) are kept exactly.
	raw := []byte{0xff, 0xfe, 0x00, 'a', 0xc3}
	if err := st.AppendLog(c, "raw", "stderr", raw); err != nil {
		t.Fatal(err)
	}
	rc, _ := readAll(t, st, "raw", "", 0)
	if len(rc) != 1 || rc[0].Data != string(raw) {
		t.Fatalf("raw bytes = %+v", rc)
	}
	// Over the limit: refused whole, nothing written.
	err := st.AppendLog(c, "big", "stdout", make([]byte, store.MaxLogAppend+1))
	wantCode(t, err, sandstep.ETOOLARGE, "data")
	out, err := client.Query(c, &dynamodb.QueryInput{
		TableName: aws.String(table), KeyConditionExpression: aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]dynamodbAV{":pk": strAV("TASK#big")},
	})
	if err != nil || len(out.Items) != 0 {
		t.Fatalf("refused append wrote %d items (%v)", len(out.Items), err)
	}
}

// TestLogFollow: a writer appends while a reader follows with cursors; the
// reader's bytes equal the writer's, in order, each once.
func TestLogFollow(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{})
	c := ctx(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var written bytes.Buffer
	var writes [][]byte
	for i := range 200 {
		n := 1 + rng.IntN(300)
		if i%50 == 0 {
			n = store.LogChunkSize + rng.IntN(store.LogChunkSize) // multi-chunk appends
		}
		p := make([]byte, n)
		for j := range p {
			p[j] = byte('a' + (i+j)%26)
		}
		writes = append(writes, p)
		written.Write(p)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for i, p := range writes {
			stream := "stdout"
			if i%3 == 0 {
				stream = "stderr"
			}
			if err := st.AppendLog(c, "task", stream, p); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var read bytes.Buffer
	var lastSeq int64
	cursor := ""
	finished := false
	for reads := 0; ; reads++ {
		select {
		case <-done:
			finished = true
		default:
		}
		chunks, next, err := st.ReadLogs(c, "task", cursor, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range chunks {
			if ch.Seq != lastSeq+1 {
				t.Fatalf("seq %d after %d: a chunk was skipped or repeated", ch.Seq, lastSeq)
			}
			lastSeq = ch.Seq
			read.WriteString(ch.Data)
		}
		cursor = next
		if finished && len(chunks) == 0 {
			break
		}
		if len(chunks) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
	if !bytes.Equal(read.Bytes(), written.Bytes()) {
		t.Fatalf("reader got %d bytes, writer wrote %d; contents differ", read.Len(), written.Len())
	}
}

// TestLogConcurrentWritersNeverOverwrite: a log is meant to have one
// writer, but two at once lose nothing: every append is stored once, whole
// and in one piece of consecutive chunks, with no gap in the sequence.
func TestLogConcurrentWritersNeverOverwrite(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{})
	c := ctx(t)
	const writers, appends = 4, 15
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range appends {
				msg := fmt.Sprintf("[w%d-%02d]", w, i)
				if i == 7 { // one multi-chunk append per writer
					msg = fmt.Sprintf("[w%d-%02d:%s]", w, i, strings.Repeat("z", store.LogChunkSize))
				}
				if err := st.AppendLog(c, "t", "stdout", []byte(msg)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	chunks, _ := readAll(t, st, "t", "", 0)
	var all strings.Builder
	for i, ch := range chunks {
		if ch.Seq != int64(i+1) {
			t.Fatalf("chunk %d has seq %d: gap or repeat", i, ch.Seq)
		}
		all.WriteString(ch.Data)
	}
	text := all.String()
	for w := range writers {
		for i := range appends {
			prefix := fmt.Sprintf("[w%d-%02d", w, i)
			if n := strings.Count(text, prefix); n != 1 {
				t.Errorf("append %s stored %d times", prefix, n)
			}
		}
		big := fmt.Sprintf("[w%d-07:%s]", w, strings.Repeat("z", store.LogChunkSize))
		if !strings.Contains(text, big) {
			t.Errorf("writer %d's multi-chunk append is not contiguous", w)
		}
	}
}

func TestLogBadInput(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{})
	c := ctx(t)
	if err := st.AppendLog(c, "t1", "stdout", []byte("x")); err != nil {
		t.Fatal(err)
	}
	_, cur, err := st.ReadLogs(c, "t1", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"empty task", func() error { return st.AppendLog(c, "", "stdout", []byte("x")) }, "taskId"},
		{"task with #", func() error { return st.AppendLog(c, "t#LOG", "stdout", []byte("x")) }, "taskId"},
		{"bad stream", func() error { return st.AppendLog(c, "t1", "stdin", []byte("x")) }, "stream"},
		{"read empty task", func() error { _, _, err := st.ReadLogs(c, "", "", 0); return err }, "taskId"},
		{"read limit", func() error { _, _, err := st.ReadLogs(c, "t1", "", store.MaxLogReadLimit+1); return err }, "limit"},
		{"garbage cursor", func() error { _, _, err := st.ReadLogs(c, "t1", "abc.def", 0); return err }, "cursor"},
		{"another task's cursor", func() error { _, _, err := st.ReadLogs(c, "t2", cur, 0); return err }, "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.call(), sandstep.EINVALID, tt.field)
		})
	}
}
