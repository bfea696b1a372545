package service

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Files reads files out of a sandbox.
type Files interface {
	// Download returns the file's bytes; EINVALID naming field when it is
	// larger than max, ENOTFOUND when there is none.
	Download(ctx context.Context, sandboxID, path string, max int64) ([]byte, error)
}

// taskDir is where a task keeps its own files in the sandbox: the output
// of its command (stdout, stderr, written as it runs) and its nudge
// header. Uploads may not write there (ReservedDir).
const taskDir = ReservedDir + "/task"

// Output and artifact limits.
const (
	// maxFetchPerCheck bounds the output one store moves (its time is
	// bounded too: timeToRead): a check that leaves some looks again
	// soon, and the collect stores again until none is left.
	maxFetchPerCheck = 64 << 20
	// MaxArtifactBytes bounds one artifact (a file, or a directory packed
	// as a .tar.gz).
	MaxArtifactBytes = 100 << 20
	// artifactLinkTTL is how long a download link of an artifact works.
	artifactLinkTTL = 15 * time.Minute
	// maxLogPage bounds the chunks one read of a task's output lists
	// (but a seq that holds more, listed whole).
	maxLogPage = 100
)

var streams = [2]string{"stdout", "stderr"}

// taskCommandLine is task taskID's command as its session runs it: the
// caller's command wrapped as for an exec (commandLine), its output written
// to the task's files, and, when it ends, a nudge to the API carrying the
// task's secret from a file (never in the command string, which Daytona
// keeps). The session command's exit code is the caller's command's, and
// the session's shell lives on.
//
// It runs the command once per session: a start asked again after its
// answer was lost sends the line again, and a session runs its commands
// one after another in one shell, so the second finds that shell marked
// with the task's id by the first and only answers its exit code (and
// nudges). Each line nudges with its own start's secret, from a file of
// its own (nudgeFile): of two starts that overlap, the one whose mark
// landed may be either, and a file they shared would hold whichever was
// uploaded last; the landed one's line nudges with the secret the record
// keeps, the other's is refused and harmless. A fresh session
// (the first try's was killed, or its command never reached the shell)
// runs it. The mark names the task and holds an exit code, so no variable
// of the sandbox's own environment passes for it (but one a console start
// sets knowing the task's id, which only spoils the caller's own task).
func taskCommandLine(taskID, command, cwd string, env map[string]string, nudgeURL, nudgeFile string) string {
	var b strings.Builder
	b.WriteString("if [ \"${" + taskRanVar + "-}\" != " + shellQuote(taskID) + " ] || [ -z \"${" + taskExitVar + "-}\" ]; then\n")
	b.WriteString(commandLine(command, cwd, env, ""))
	// Truncated: a fresh run's output is its own, not a killed earlier
	// try's.
	b.WriteString(" >" + taskDir + "/stdout 2>" + taskDir + "/stderr </dev/null\n")
	// Exported, so that a session whose commands each run in a shell of
	// their own but keep its exports (the local Daytona) sees them too.
	// Set once the command has ended: the command's environment lacks them.
	b.WriteString(taskExitVar + "=$?\n" + taskRanVar + "=" + shellQuote(taskID) + "\n")
	b.WriteString("export " + taskExitVar + " " + taskRanVar + "\nfi\n")
	if nudgeURL != "" {
		// Asked again when refused for a moment (API Gateway's throttle,
		// a 5xx): a lost nudge leaves the end to the backstop, minutes.
		// In the background, so the command's end is its session
		// command's end, which the check reads, however long the nudge
		// takes (GNU wget tries 20 times).
		u := shellQuote(nudgeURL)
		h := shellQuote(nudgeFile)
		b.WriteString("{ curl -fsS -m 10 --retry 3 --retry-max-time 30 -X POST -H @" + h + " " + u + " || wget -q -T 10 -O /dev/null --post-data= --header=\"$(cat " + h + ")\" " + u + "; } >/dev/null 2>&1 </dev/null &\n")
	}
	// Daytona sources a session's commands in the session's own shell: a
	// bare exit would end that shell before the daemon records the exit
	// code. A subshell's exit only sets the status.
	b.WriteString("(exit $" + taskExitVar + ")")
	return b.String()
}

// The variables that mark a task's session once its command has run there:
// the task's id, and the command's exit code.
const (
	taskRanVar  = "SANDSTEP_TASK_RAN"
	taskExitVar = "SANDSTEP_TASK_EXIT"
)

// logKey is where chunk seq of a task's output is kept, "<seq>-<stream>-
// <offset>-<unix ms>-n<nonce>"; the keys of a task sort in seq order.
// offset is where the chunk starts in its stream's file, so a reader who
// was given some of its bytes fresh from the sandbox can skip them. A chunk
// that is no range of the file has none (offset < 0): the cut marker as it
// was stored before the record carried the cut (LogCut), and chunks stored
// before offsets were kept. The nonce keeps two
// writers of the same range in the same millisecond (a cancel beside a
// check) from overwriting each other's chunk; keys stored before it have
// none.
func logKey(taskID string, seq int64, stream string, offset int64, at time.Time) string {
	nonce := "n" + randomID()[:logNonceLen]
	if offset < 0 {
		return fmt.Sprintf("%s%012d-%s-%d-%s", logPrefix(taskID), seq, stream, at.UnixMilli(), nonce)
	}
	return fmt.Sprintf("%s%012d-%s-%d-%d-%s", logPrefix(taskID), seq, stream, offset, at.UnixMilli(), nonce)
}

// logNonceLen is the length of a chunk key's nonce, after its "n".
const logNonceLen = 8

func logPrefix(taskID string) string { return "tasks/" + taskID + "/log/" }

// storeOutput moves the output the command has written since the last
// check from the sandbox to the object store, a chunk per object, within
// MAX_TASK_LOG_BYTES (the chunk that reaches it records the cut, which is
// final: readers were given its marker, numbered after the last chunk,
// even if the limit is raised later). Each chunk is a range of an
// append-only file, so reading it again reads the same bytes.
// A chunk ends on a character's end unless ended says the command has
// ended and nothing follows (readers are given each chunk as text, where
// both halves of a cut character would be lost). more says it stopped at
// maxFetchPerCheck, or short of time (timeToRead), with output left to
// move.
func (s *Service) storeOutput(ctx context.Context, t *sandstep.Task, daytonaID string, ended bool) (more bool, err error) {
	room := s.opts.MaxTaskLogBytes - (t.LogBytes[0] + t.LogBytes[1])
	if room <= 0 || t.LogCut != "" {
		return false, nil
	}
	// The first read takes both streams in one command, as most checks
	// find a little new output or none; a stream with more is read on
	// alone, a chunk at a time.
	firstAsked := int(min(int64(s.bothStreamsBound()), room))
	first, err := s.readRanges(ctx, daytonaID, t.LogBytes, [2]int{firstAsked, firstAsked}, readTimeout, startStopped)
	if err != nil {
		return false, err
	}
	chunk := (s.opts.MaxOutputBytes/4)*3 - 3 // its base64 fits one exec's output
	moved := 0
	for i := range streams {
		data, asked, have := first[i], firstAsked, true
		for {
			room := s.opts.MaxTaskLogBytes - (t.LogBytes[0] + t.LogBytes[1])
			if room <= 0 {
				break
			}
			if moved >= s.fetchPerStore {
				// This stream may hold more, and the next stream's
				// first read is not stored: both are read again.
				more = true
				break
			}
			if !have {
				if !timeToRead(ctx) {
					more = true
					break
				}
				asked = int(min(int64(chunk), room))
				var n [2]int
				n[i] = asked
				read, err := s.readRanges(ctx, daytonaID, t.LogBytes, n, readTimeout, startStopped)
				if err != nil {
					return false, err
				}
				data = read[i]
			}
			have = false
			full := len(data) >= asked // more may follow in the file
			switch end := runeEnd(data); {
			case int64(len(data)) >= room:
				data = data[:room] // the log's cut
			case full && end > 0, !full && !ended:
				// A character cut by this read's end is left for the
				// next read, or the next check.
				data = data[:end]
			}
			if len(data) == 0 {
				break
			}
			if err := s.appendChunk(ctx, t, i, t.LogBytes[i], data); err != nil {
				return false, err
			}
			moved += len(data)
			if t.LogCut != "" {
				return false, nil
			}
			if !full {
				break
			}
		}
	}
	return more, nil
}

// storeKeep is what a store leaves of its step's invocation besides a
// read's time: it reads on only while that much is left (timeToRead), so
// a backlog larger than the invocation has time for waits for the next
// check or collect instead of getting the function killed (a Lambda
// timeout, which fails the state).
const storeKeep = time.Minute

// timeToRead says whether ctx leaves a store's next read its time and
// storeKeep. A store's first read is always made: every invocation moves
// some.
func timeToRead(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return !ok || time.Until(d) >= readTimeout+storeKeep
}

// packTimeout bounds the packing of a directory artifact.
const packTimeout = 5 * time.Minute

// collectRest is what a collect needs after its stores: the record's end,
// the artifacts, and an issue's task's stage, push and pull request.
// MaxCollectRest is its largest.
func (s *Service) collectRest(t *sandstep.Task, spec *TaskInput) time.Duration {
	rest := time.Minute
	if len(spec.Artifacts) > 0 {
		rest += packTimeout
	}
	if s.repoTask(t) && t.ExitCode != nil && *t.ExitCode == 0 {
		rest += gitStepTimeout + pushWaitFloor // the stage, then the push and the pull request
	}
	return rest
}

// MaxCollectRest is collectRest at its largest (an issue's task that
// exited 0, with artifacts): work after the command's deadline that the
// execution's timeout keeps time for (sandstep.TaskExecutionMargin).
const MaxCollectRest = time.Minute + packTimeout + gitStepTimeout + pushWaitFloor

// storeEndedOutput stores what an ended command's output holds beyond
// what the checks moved: a store at a time while ctx leaves a read its
// time (timeToRead). Output still left, or a backlog stored that left
// less than rest for the collect's other work, is a transient error: the
// state machine collects again, with less or nothing to store and its
// whole time (nothing is lost from a task whose output is then said to be
// complete).
func (s *Service) storeEndedOutput(ctx context.Context, t *sandstep.Task, daytonaID string, rest time.Duration) error {
	for stores := 1; ; stores++ {
		more, err := s.storeOutput(ctx, t, daytonaID, true)
		if err != nil {
			return err
		}
		d, timed := ctx.Deadline()
		switch left := time.Until(d); {
		case !more && stores > 1 && timed && left < rest:
			return sandstep.Errorf(sandstep.ETRANSIENT, "task %s: its output is stored (%d bytes); the rest of its collect needs a fresh try", t.ID, t.LogBytes[0]+t.LogBytes[1])
		case !more:
			return nil
		case !timeToRead(ctx):
			return sandstep.Errorf(sandstep.ETRANSIENT, "task %s: its output is not all stored yet (%d bytes so far); try again", t.ID, t.LogBytes[0]+t.LogBytes[1])
		}
	}
}

// readTimeout bounds one read of a task's output file: far more than a
// read takes, room for an auto-stopped sandbox to start again, and short
// enough to run as one synchronous call (a minute ran it asynchronously:
// three calls and a poll's pause, on every check of every task).
const readTimeout = 30 * time.Second

// errOutputMoved is an append refused because another writer recorded a
// chunk first (a cancel beside a check, a check retried while its first
// attempt still runs): what this writer read may overlap it, so it stops,
// and a later store reads from where the record stands.
var errOutputMoved = sandstep.Errorf(sandstep.ETRANSIENT, "another writer stored the task's output meanwhile; try again")

// appendChunk keeps data, which starts at offset in its stream, as the
// task's next chunk, then records it: only if the record still stands
// where t does (its last chunk, the stream's offset), else errOutputMoved,
// with t brought up to the record. A chunk that reaches
// MAX_TASK_LOG_BYTES records the cut in the same write, so its marker
// cannot be lost between two writes. Readers give a
// chunk kept but not recorded only up to the record's offset of its
// stream (logCursor.take): bytes the record counts, once.
func (s *Service) appendChunk(ctx context.Context, t *sandstep.Task, stream int, offset int64, data []byte) error {
	seq := t.LogSeq + 1
	if err := s.objects.Put(ctx, logKey(t.ID, seq, streams[stream], offset, s.opts.Now()), data); err != nil {
		return fmt.Errorf("keep the task's output: %w", err)
	}
	moved, now := false, s.opts.Now().UTC()
	updated, err := s.tasks.TransitionTask(ctx, t.ID, []sandstep.TaskStatus{t.Status}, t.Status, func(r *sandstep.Task) {
		moved = r.LogSeq != seq-1 || r.LogBytes[stream] != offset
		if !moved {
			r.LogSeq = seq
			r.LogBytes[stream] += int64(len(data))
			if r.LogBytes[0]+r.LogBytes[1] >= s.opts.MaxTaskLogBytes && r.LogCut == "" {
				r.LogCut, r.LogCutAt = streams[stream], &now
			}
		}
	})
	if err != nil {
		return fmt.Errorf("record the task's output: %w", err)
	}
	*t = *updated
	if moved {
		return errOutputMoved
	}
	return nil
}

// noteUnstored records on r, in the write that ends the task, why what its
// command wrote after its stored output, if anything, was not stored
// (unstored, "" when it all was): readers are given it after the output,
// in a marker chunk (endMarker). One write with the end, so a task its
// steps ended meanwhile, whose output they stored, is never marked. Not
// past MAX_TASK_LOG_BYTES' cut, whose marker says why nothing follows.
func (s *Service) noteUnstored(r *sandstep.Task, unstored string) {
	if unstored != "" && r.OutputNotStored == "" && r.LogCut == "" && r.LogBytes[0]+r.LogBytes[1] < s.opts.MaxTaskLogBytes {
		r.OutputNotStored = unstored
	}
}

// Why a task's last output was not stored, as its readers are told.
const (
	unstoredGone    = "its sandbox is gone"
	unstoredNoTime  = "there was no time left to store it"
	unstoredFailed  = "reading or storing it failed"
	unstoredRunning = "its command could not be stopped"
)

// endMarker is the chunk, made when read and never stored, that ends t's
// output after its last stored chunk: where MAX_TASK_LOG_BYTES cut it, on
// the stream cut; or, once t has ended, why its last output was not
// stored, on stderr. ok is false when there is none.
func endMarker(t *sandstep.Task) (marker sandstep.LogChunk, ok bool) {
	switch {
	case t.LogCut != "" && t.LogCutAt != nil:
		return sandstep.LogChunk{Seq: t.LogSeq + 1, Stream: t.LogCut, Time: *t.LogCutAt,
			Data: fmt.Sprintf("\n[sandstep: the output was cut at %d bytes (MAX_TASK_LOG_BYTES)]\n", t.LogBytes[0]+t.LogBytes[1])}, true
	case t.Status.Terminal() && t.OutputNotStored != "":
		at := t.CreatedAt
		if t.FinishedAt != nil {
			at = *t.FinishedAt
		}
		return sandstep.LogChunk{Seq: t.LogSeq + 1, Stream: "stderr", Time: at,
			Data: "\n[sandstep: any output after this point was not stored: " + t.OutputNotStored + "]\n"}, true
	}
	return sandstep.LogChunk{}, false
}

// TaskLogs is a page of a task's output.
type TaskLogs struct {
	Chunks     []sandstep.LogChunk `json:"chunks"`
	NextCursor string              `json:"nextCursor"`
	// Complete: the task has ended and all its output is stored; there is
	// nothing after NextCursor, now or later.
	Complete bool `json:"complete"`
}

// ReadTaskLogs returns the caller's task's output after cursor ("" from
// the start), in order, stdout and stderr apart, each byte once however
// it came: stored chunks, then, for a reader who has read all that is
// stored of a running task, what the command has written since, read
// from the sandbox (freshOutput). It writes nothing: a reader pays for the
// bytes it reads and no more.
func (s *Service) ReadTaskLogs(ctx context.Context, call Call, id, cursor string) (*TaskLogs, error) {
	t, err := s.visibleTask(ctx, call, id)
	if err != nil {
		return nil, err
	}
	cur, err := parseTaskCursor(cursor, t.ID)
	if err != nil {
		return nil, err
	}
	// No page of this task hands out a seq past its last chunk, or its
	// end marker's: such a cursor is another task's (or made up), and
	// taken as a position it would skip all this task's output and, once
	// the task has ended, call that complete.
	if marker, ok := endMarker(t); cur.seq > t.LogSeq && (!ok || cur.seq > marker.Seq) {
		return nil, badCursor()
	}
	out := &TaskLogs{}
	var room int
	// A chunk the bucket's lifecycle removes between the listing and its
	// read is gone as one removed before: listed again, without it
	// (giveExpired says so), rather than the page failing not found.
	for start, tries := cur, 1; ; tries++ {
		out.Chunks, room, err = s.storedOutput(ctx, t, &cur, s.opts.MaxResponseBytes-logPageOverhead)
		if sandstep.ErrorCode(err) != sandstep.ENOTFOUND || tries == 3 {
			break
		}
		cur = start
	}
	if err != nil {
		return nil, err
	}
	if cur.seq >= t.LogSeq && t.Status == sandstep.TaskRunning && room > logChunkOverhead {
		out.Chunks = append(out.Chunks, s.freshOutput(ctx, t, &cur, room)...)
	}
	end := t.LogSeq // the last chunk's seq
	if marker, ok := endMarker(t); ok {
		end = marker.Seq
		if cur.seq == t.LogSeq && (len(out.Chunks) == 0 || room >= logPageSize([]byte(marker.Data))) {
			out.Chunks = append(out.Chunks, marker)
			cur.seq = marker.Seq
		}
	}
	out.NextCursor = cur.taskCursor(t.ID)
	out.Complete = t.Status.Terminal() && cur.seq >= end
	return out, nil
}

// storedOutput is the task's stored chunks after cur, trimmed by what cur
// says the reader has, as many as take at most room in the page (and at
// least one), recorded as given in cur; and the room left.
//
// A seq can hold two chunks or more: the recorded one, and those kept by
// writers that lost the race to record it. cur.seq moves to a seq only once
// all of them are given: the next page lists after it. Until then the
// stream offsets skip what was given of them again; a chunk without an
// offset cannot be skipped so, and is given last in its seq, with the seq.
func (s *Service) storedOutput(ctx context.Context, t *sandstep.Task, cur *logCursor, room int) ([]sandstep.LogChunk, int, error) {
	seqs, err := s.storedSeqs(ctx, t, cur.seq)
	if err != nil {
		return nil, 0, err
	}
	chunks := []sandstep.LogChunk{}
	for _, seq := range seqs {
		if first := seq[0].Seq; first > cur.seq+1 && !giveExpired(t, cur, first-1, &chunks, &room) {
			return chunks, 0, nil
		}
		next := *cur
		next.seq = seq[0].Seq
		var given, whole []sandstep.LogChunk // whole: those without an offset
		for _, k := range seq {
			data, err := s.objects.Get(ctx, k.key)
			if err != nil {
				return nil, 0, err
			}
			ch, i := k.LogChunk, streamIndex(k.Stream)
			if k.offset < 0 {
				ch.Data = string(data)
				whole = append(whole, ch)
				continue
			}
			start := max(k.offset, next.sent[i])
			data = next.take(i, k.offset, t.LogBytes[i], data)
			if part := fitLogPage(data, room); len(part) < len(data) {
				// The page is full: what fits of the chunk is given, the
				// rest on the next page, which lists this seq again.
				if len(part) > 0 {
					ch.Data = string(part)
					given = append(given, ch)
				}
				next.sent[i] = start + int64(len(part))
				cur.sent = next.sent
				return append(chunks, given...), 0, nil
			}
			if len(data) > 0 {
				room -= logPageSize(data)
				ch.Data = string(data)
				given = append(given, ch)
			}
		}
		// A chunk without an offset cannot be split: given whole, with its
		// seq, on a page of its own when it does not fit.
		size := 0
		for _, ch := range whole {
			size += logPageSize([]byte(ch.Data))
		}
		if size > room && len(chunks)+len(given) > 0 {
			cur.sent = next.sent
			return append(chunks, given...), 0, nil
		}
		room -= size
		*cur = next
		chunks = append(append(chunks, given...), whole...)
		if room <= 0 {
			return chunks, 0, nil
		}
	}
	if len(seqs) == 0 && cur.seq < t.LogSeq && !giveExpired(t, cur, t.LogSeq, &chunks, &room) {
		return chunks, 0, nil
	}
	return chunks, room, nil
}

// giveExpired gives, in place of the recorded chunks after cur.seq up to
// seq that are gone from the bucket, a chunk made when read that says so,
// and moves cur past them; false when the page has no room for it. The
// bucket's lifecycle rule expires a chunk TASK_RETENTION_DAYS after it was
// written, the record as long after the task ended: the first chunks of a
// task that ran across a midnight go first, and a reader given the rest
// as the whole output, or never past the gone ones, would not know.
func giveExpired(t *sandstep.Task, cur *logCursor, seq int64, chunks *[]sandstep.LogChunk, room *int) bool {
	at := t.CreatedAt
	if t.StartedAt != nil {
		at = *t.StartedAt
	}
	gone := sandstep.LogChunk{Seq: seq, Stream: "stderr", Time: at,
		Data: "\n[sandstep: output stored before this point is no longer kept (TASK_RETENTION_DAYS)]\n"}
	size := logPageSize([]byte(gone.Data))
	if size > *room && len(*chunks) > 0 {
		return false
	}
	*chunks = append(*chunks, gone)
	*room -= size
	cur.seq = seq
	return true
}

// storedKey is a stored chunk's key, and what it names.
type storedKey struct {
	key string
	sandstep.LogChunk
	offset int64
}

// storedSeqs lists the task's recorded chunks after seq after, in order,
// grouped by seq, each seq whole. A listing may end inside a seq, which is
// then left to the next page; or, when it is the listing's only seq,
// listed on (else no page would ever get past it).
func (s *Service) storedSeqs(ctx context.Context, t *sandstep.Task, after int64) ([][]storedKey, error) {
	prefix := logPrefix(t.ID)
	var keys []storedKey
	more, from := true, fmt.Sprintf("%s%012d-~", prefix, after)
	for more {
		// One key over maxLogPage: it says whether the seq of the page's
		// last key goes on.
		listed, err := s.objects.List(ctx, prefix, from, maxLogPage+1)
		if err != nil {
			return nil, err
		}
		more = len(listed) == maxLogPage+1
		for _, key := range listed {
			ch, offset, ok := parseLogKey(strings.TrimPrefix(key, prefix))
			if !ok {
				continue
			}
			if ch.Seq > t.LogSeq {
				more = false // not (yet) recorded: a chunk being written
				break
			}
			keys = append(keys, storedKey{key, ch, offset})
		}
		if more && len(keys) > 0 && keys[0].Seq != keys[len(keys)-1].Seq {
			// Every seq but the last is whole.
			last := keys[len(keys)-1].Seq
			for len(keys) > 0 && keys[len(keys)-1].Seq == last {
				keys = keys[:len(keys)-1]
			}
			more = false
		}
		if more {
			from = listed[len(listed)-1] // the one seq listed on
		}
	}
	var seqs [][]storedKey
	for i, k := range keys {
		if i == 0 || k.Seq != keys[i-1].Seq {
			seqs = append(seqs, nil)
		}
		seqs[len(seqs)-1] = append(seqs[len(seqs)-1], k)
	}
	return seqs, nil
}

// A page of output fits one response (MaxResponseBytes): each chunk
// counts its data as it takes in the answer (wireSize) and
// logChunkOverhead for its other fields, and the page logPageOverhead for
// its own.
const (
	logChunkOverhead = 128
	logPageOverhead  = 256
)

// logPageSize is what data takes in a page.
func logPageSize(data []byte) int {
	n, _ := wireSize(string(data))
	return n + logChunkOverhead
}

// fitLogPage is data cut, on a character boundary, to take at most room in
// a page (escaped twice, a byte grows to at most seven); all of it when it
// fits.
func fitLogPage(data []byte, room int) []byte {
	if logPageSize(data) <= room {
		return data
	}
	return data[:len(cutUTF8(string(data), max(0, room-logChunkOverhead)/7))]
}

// streamIndex is the index of a stream's name in streams.
func streamIndex(stream string) int { return slices.Index(streams[:], stream) }

// parseLogKey reads a chunk's name, "<seq>-<stream>-<offset>-<unix ms>"
// or, without an offset (-1), "<seq>-<stream>-<unix ms>", each with or
// without its "-n<nonce>" (see logKey).
func parseLogKey(name string) (ch sandstep.LogChunk, offset int64, ok bool) {
	parts := strings.Split(name, "-")
	if last := parts[len(parts)-1]; len(last) == 1+logNonceLen && last[0] == 'n' {
		parts = parts[:len(parts)-1]
	}
	offset = -1
	if len(parts) == 4 {
		var err error
		if offset, err = strconv.ParseInt(parts[2], 10, 64); err != nil || offset < 0 {
			return sandstep.LogChunk{}, 0, false
		}
		parts = slices.Delete(parts, 2, 3)
	}
	if len(parts) != 3 {
		return sandstep.LogChunk{}, 0, false
	}
	seq, err1 := strconv.ParseInt(parts[0], 10, 64)
	ms, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || !slices.Contains(streams[:], parts[1]) {
		return sandstep.LogChunk{}, 0, false
	}
	return sandstep.LogChunk{Seq: seq, Stream: parts[1], Time: time.UnixMilli(ms).UTC()}, offset, true
}

// Artifact is one path the task asked to keep.
type Artifact struct {
	Path string `json:"path"`
	// Bytes is the stored size; a directory is stored as a .tar.gz.
	Bytes int64 `json:"bytes,omitempty"`
	// URL downloads it, for a short while.
	URL string `json:"url,omitempty"`
	// Error says why it was not kept (missing, too large).
	Error string `json:"error,omitempty"`
}

// keptArtifact is an artifact as its manifest records it.
type keptArtifact struct {
	Artifact
	Key string `json:"key,omitempty"`
}

func artifactsKey(taskID string) string { return "tasks/" + taskID + "/artifacts.json" }

// collectArtifacts copies the task's artifact paths from the sandbox to
// the object store, before the sandbox is deleted. A path that is missing
// or too large is reported, not fatal.
func (s *Service) collectArtifacts(ctx context.Context, t *sandstep.Task, sb *sandstep.Sandbox, paths []string) (map[string]string, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	kept := make([]keptArtifact, 0, len(paths))
	for i, p := range paths {
		a := keptArtifact{Artifact: Artifact{Path: p}}
		data, dir, err := s.fetchArtifact(ctx, sb.DaytonaID, i, p)
		switch code := sandstep.ErrorCode(err); {
		case err == nil:
			a.Key = fmt.Sprintf("tasks/%s/artifacts/%02d-%s", t.ID, i, artifactName(p, dir))
			if err := s.objects.Put(ctx, a.Key, data); err != nil {
				return nil, err
			}
			a.Bytes = int64(len(data))
		case code == sandstep.ENOTFOUND || code == sandstep.EINVALID:
			a.Error = sandstep.ErrorMessage(err)
		default:
			return nil, err
		}
		kept = append(kept, a)
	}
	manifest, _ := json.Marshal(kept)
	if err := s.objects.Put(ctx, artifactsKey(t.ID), manifest); err != nil {
		return nil, err
	}
	detail := map[string]string{}
	for _, a := range kept {
		detail[a.Path] = strconv.FormatInt(a.Bytes, 10)
		if a.Error != "" {
			detail[a.Path] = a.Error
		}
	}
	return detail, nil
}

// fetchArtifact reads a file, or a directory packed as a .tar.gz (dir).
// Errors are about p, never about the archive's own path.
func (s *Service) fetchArtifact(ctx context.Context, daytonaID string, i int, p string) (data []byte, dir bool, err error) {
	packed := fmt.Sprintf("%s/artifact-%02d.tar.gz", taskDir, i)
	q := shellQuote(p)
	// sandstep's own directory (the secrets file, the nudge's) is never
	// stored: a directory that holds it (the working directory, named by
	// its absolute path) is packed without it, and one inside it, or a
	// file in one, is refused; directories compared as cd -P finds them
	// (links followed; CDPATH, which the sandbox's env may set, unset).
	line := "unset CDPATH; w=$(cd -P ./" + ReservedDir + " 2>/dev/null && pwd); set --\n" +
		"if [ -d " + q + " ]; then r=$(cd -P -- " + q + " && pwd)\n" +
		`  if [ -n "$w" ] && case "$r/" in "$w"/*) true;; *) false;; esac; then echo reserved; exit 0; fi` + "\n" +
		`  if [ -n "$w" ]; then case "$w" in "${r%/}"/*) set -- "--exclude=./${w#"${r%/}"/}";; esac; fi` + "\n" +
		"  if tar -czf " + packed + ` "$@" -C ` + q + " . 2>/dev/null; then echo dir; else echo unpacked; fi\n" +
		"elif [ -f " + q + " ]; then r=$(cd -P -- \"$(dirname -- " + q + ")\" && pwd)\n" +
		`  if [ -n "$w" ] && case "$r/" in "$w"/*) true;; *) false;; esac; then echo reserved; else echo file; fi` + "\n" +
		"else echo missing; fi"
	res, err := s.provider.Exec(ctx, daytonaID, Command{Line: line, Timeout: packTimeout})
	if err != nil {
		return nil, false, fmt.Errorf("look at artifact %s: %w", p, err)
	}
	switch strings.TrimSpace(res.Stdout) {
	case "dir":
		data, err := s.files.Download(ctx, daytonaID, packed, MaxArtifactBytes)
		if sandstep.ErrorCode(err) == sandstep.EINVALID { // the archive's size
			return nil, true, sandstep.Invalid("artifacts", "%s is larger than %d bytes once packed as .tar.gz", p, MaxArtifactBytes)
		}
		return data, true, err
	case "unpacked":
		return nil, true, sandstep.Invalid("artifacts", "%s is a directory tar could not pack (unreadable files, or files changing as it read)", p)
	case "reserved":
		return nil, false, sandstep.Invalid("artifacts", "%s is in %s/, which is reserved for sandstep", p, ReservedDir)
	case "file":
		data, err := s.files.Download(ctx, daytonaID, p, MaxArtifactBytes)
		return data, false, err
	}
	return nil, false, sandstep.Errorf(sandstep.ENOTFOUND, "%s does not exist in the sandbox", p)
}

// artifactName is the stored name of an artifact: its base name, with
// .tar.gz for a directory.
func artifactName(p string, dir bool) string {
	name := path.Base(path.Clean(p))
	if dir {
		name += ".tar.gz"
	}
	return name
}

// TaskArtifacts lists the caller's task's artifacts with download links.
func (s *Service) TaskArtifacts(ctx context.Context, call Call, id string) ([]Artifact, error) {
	t, err := s.visibleTask(ctx, call, id)
	if err != nil {
		return nil, err
	}
	raw, err := s.objects.Get(ctx, artifactsKey(t.ID))
	if sandstep.ErrorCode(err) == sandstep.ENOTFOUND {
		return []Artifact{}, nil
	}
	if err != nil {
		return nil, err
	}
	var kept []keptArtifact
	if err := json.Unmarshal(raw, &kept); err != nil {
		return nil, sandstep.Wrap(err, sandstep.EINTERNAL, "the artifacts of task %s are unreadable", t.ID)
	}
	out := make([]Artifact, len(kept))
	for i, a := range kept {
		out[i] = a.Artifact
		if a.Key == "" {
			continue
		}
		if out[i].URL, err = s.objects.Link(ctx, a.Key, artifactLinkTTL); err != nil {
			return nil, err
		}
	}
	return out, nil
}
