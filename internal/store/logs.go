package store

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Log limits.
const (
	// LogChunkSize is the most bytes of output one log chunk item holds.
	LogChunkSize = 64 * 1024
	// MaxLogAppend is the most bytes one AppendLog call takes: its chunks are
	// written in one transaction, so a call stores all of its bytes or none.
	MaxLogAppend = 16 * LogChunkSize
	// DefaultLogReadLimit and MaxLogReadLimit bound the chunks ReadLogs
	// returns (DynamoDB also stops a page at 1 MB).
	DefaultLogReadLimit = 100
	MaxLogReadLimit     = 1000
	// maxLogAppendAttempts bounds retries after another writer took the
	// sequence numbers this one chose.
	maxLogAppendAttempts = 20
)

const (
	attrLogSeq    = "seq"
	attrLogStream = "stream"
	attrLogData   = "data"
	attrLogTime   = "time"
)

// AppendLog appends data, written by the task on stream ("stdout" or
// "stderr"), to the task's log. It splits data into chunks of at most
// LogChunkSize bytes (at UTF-8 character boundaries where possible; bytes
// are stored exactly) and writes them with the next sequence numbers, all in
// one transaction. Empty data is a no-op; over MaxLogAppend is ETOOLARGE
// (field "data"): split it across calls.
//
// Chunks are created, never rewritten: each is written on condition that its
// sequence number is free. A log is meant to have one writer (the task's
// watcher), but two writers are still safe: the one that loses a sequence
// number retries with the next. Because a chunk is only ever written after
// the chunk before it exists, the stored chunks are always 1..n with no gap,
// and a reader following with ReadLogs sees every byte exactly once.
func (s *Store) AppendLog(ctx context.Context, taskID string, stream string, data []byte) error {
	if err := validateID("taskId", taskID); err != nil {
		return err
	}
	if stream != "stdout" && stream != "stderr" {
		return sandstep.Invalid("stream", "must be stdout or stderr, got %q", stream)
	}
	if len(data) == 0 {
		return nil
	}
	if len(data) > MaxLogAppend {
		return &sandstep.Error{Code: sandstep.ETOOLARGE, Field: "data",
			Message: "at most " + strconv.Itoa(MaxLogAppend) + " bytes per append, got " + strconv.Itoa(len(data))}
	}
	parts := splitChunks(data, LogChunkSize)
	now := s.nowUTC().Format(time.RFC3339Nano)
	pk := taskPK(taskID)
	create, err := createOnly()
	if err != nil {
		return mapErr(err, "build log condition")
	}
	var lastErr error
	for attempt := range maxLogAppendAttempts {
		if attempt > 0 {
			// Another writer took the sequence numbers: back off a little,
			// with jitter, so that a multi-chunk append is not starved by
			// single-chunk ones.
			if err := sleep(ctx, time.Duration(rand.Int64N(int64(attempt)*int64(2*time.Millisecond)))); err != nil {
				return err
			}
		}
		last, err := s.lastLogSeq(ctx, pk)
		if err != nil {
			return err
		}
		puts := make([]types.TransactWriteItem, len(parts))
		for i, p := range parts {
			seq := last + 1 + int64(i)
			puts[i] = types.TransactWriteItem{Put: &types.Put{
				TableName: aws.String(s.table),
				Item: map[string]types.AttributeValue{
					attrPK:        str(pk),
					attrSK:        str(logSK(seq)),
					attrType:      str(typeLog),
					attrLogSeq:    num(seq),
					attrLogStream: str(stream),
					attrLogData:   &types.AttributeValueMemberB{Value: p},
					attrLogTime:   str(now),
				},
				ConditionExpression:       create.Condition(),
				ExpressionAttributeNames:  create.Names(),
				ExpressionAttributeValues: create.Values(),
			}}
		}
		if len(puts) == 1 {
			p := puts[0].Put
			_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
				TableName: p.TableName, Item: p.Item, ConditionExpression: p.ConditionExpression,
				ExpressionAttributeNames: p.ExpressionAttributeNames, ExpressionAttributeValues: p.ExpressionAttributeValues,
			})
			if isConditionFailed(err) {
				lastErr = err
				continue
			}
		} else {
			_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: puts})
			if reasons, ok := txReasons(err); ok && !txTransient(reasons) && slices.Contains(reasons, reasonConditionalFailed) {
				lastErr = err
				continue
			}
		}
		return mapErr(err, "append log")
	}
	return sandstep.Wrap(lastErr, sandstep.ETRANSIENT, "the log of task %q is being appended to concurrently; try again", taskID)
}

// splitChunks cuts data into pieces of at most size bytes, moving a cut
// back to the start of a UTF-8 character when it would split one.
func splitChunks(data []byte, size int) [][]byte {
	var parts [][]byte
	for len(data) > 0 {
		n := min(size, len(data))
		if n < len(data) {
			cut := n
			for cut > n-utf8.UTFMax && cut > 0 && !utf8.RuneStart(data[cut]) {
				cut--
			}
			if cut > 0 && utf8.RuneStart(data[cut]) {
				n = cut
			}
		}
		parts = append(parts, data[:n])
		data = data[n:]
	}
	return parts
}

// lastLogSeq returns the highest sequence number stored for the task's log,
// 0 if none.
func (s *Store) lastLogSeq(ctx context.Context, pk string) (int64, error) {
	expr, err := expression.NewBuilder().
		WithKeyCondition(expression.Key(attrPK).Equal(expression.Value(pk)).
			And(expression.Key(attrSK).BeginsWith(prefixLog))).
		WithProjection(expression.NamesList(expression.Name(attrLogSeq))).
		Build()
	if err != nil {
		return 0, mapErr(err, "build log query")
	}
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    expr.KeyCondition(),
		ProjectionExpression:      expr.Projection(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(true),
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(1),
	})
	if err != nil {
		return 0, mapErr(err, "read log position")
	}
	if len(out.Items) == 0 {
		return 0, nil
	}
	seq, ok, err := numberAttr(out.Items[0], attrLogSeq)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, sandstep.Errorf(sandstep.EINTERNAL, "store: log chunk without %s", attrLogSeq)
	}
	return seq, nil
}

// ReadLogs returns up to limit chunks of the task's log (0 means
// DefaultLogReadLimit) that come after cursor ("" means from the start), in
// order, and the cursor to read on from. next is never empty: a reader
// following a running task passes it back, gets only chunks appended since,
// and so sees each byte once. A cursor of another task's log, or an altered
// one, is EINVALID with field "cursor".
func (s *Store) ReadLogs(ctx context.Context, taskID string, cursorText string, limit int) (chunks []sandstep.LogChunk, next string, err error) {
	if err := validateID("taskId", taskID); err != nil {
		return nil, "", err
	}
	switch {
	case limit == 0:
		limit = DefaultLogReadLimit
	case limit < 0 || limit > MaxLogReadLimit:
		return nil, "", sandstep.Invalid("limit", "must be between 1 and %d, got %d", MaxLogReadLimit, limit)
	}
	c, err := s.decodeCursor(cursorText, cursorLogs, taskID)
	if err != nil {
		return nil, "", err
	}
	var after int64
	if c != nil {
		if c.Seq < 0 || c.Seq == math.MaxInt64 {
			return nil, "", sandstep.Invalid("cursor", "is not a valid cursor for this list")
		}
		after = c.Seq
	}
	pk := taskPK(taskID)
	expr, err := expression.NewBuilder().WithKeyCondition(
		expression.Key(attrPK).Equal(expression.Value(pk)).
			And(expression.Key(attrSK).Between(expression.Value(logSK(after+1)), expression.Value(logSK(math.MaxInt64))))).
		Build()
	if err != nil {
		return nil, "", mapErr(err, "build log query")
	}
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    expr.KeyCondition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(int32(limit)),
	})
	if err != nil {
		return nil, "", mapErr(err, "read logs")
	}
	chunks = make([]sandstep.LogChunk, 0, len(out.Items))
	for _, it := range out.Items {
		ch, err := logChunk(it)
		if err != nil {
			return nil, "", err
		}
		chunks = append(chunks, ch)
		after = ch.Seq
	}
	return chunks, s.encodeCursor(cursor{Kind: cursorLogs, Scope: taskID, Seq: after}), nil
}

func logChunk(it map[string]types.AttributeValue) (sandstep.LogChunk, error) {
	seq, ok, err := numberAttr(it, attrLogSeq)
	if err != nil {
		return sandstep.LogChunk{}, err
	}
	if !ok {
		return sandstep.LogChunk{}, sandstep.Errorf(sandstep.EINTERNAL, "store: log chunk without %s", attrLogSeq)
	}
	ch := sandstep.LogChunk{Seq: seq}
	if v, ok := it[attrLogStream].(*types.AttributeValueMemberS); ok {
		ch.Stream = v.Value
	}
	if v, ok := it[attrLogData].(*types.AttributeValueMemberB); ok {
		ch.Data = string(v.Value)
	}
	if v, ok := it[attrLogTime].(*types.AttributeValueMemberS); ok {
		t, err := time.Parse(time.RFC3339Nano, v.Value)
		if err != nil {
			return sandstep.LogChunk{}, sandstep.Wrap(err, sandstep.EINTERNAL, "store: log chunk time")
		}
		ch.Time = t
	}
	return ch, nil
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("store: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}
