package local

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
)

// startKeys is minidyn with a Query's or Scan's ExclusiveStartKey read as
// DynamoDB reads it: a position, whether or not an item is there. minidyn
// starts after the item it names and, when that item is gone (deleted,
// or swept at its TTL between two pages), returns nothing and no
// LastEvaluatedKey: every item after it drops out of the list. Such a
// read puts a stand-in of the item, made of the start key's attributes,
// reads, and deletes it, with every other call held back meanwhile so
// that none sees it.
type startKeys struct {
	next http.Handler
	mu   sync.RWMutex
	// schemas holds each table's key attributes, asked once: a table's
	// key never changes.
	schemas sync.Map
}

func (s *startKeys) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	var in struct {
		TableName         string
		ExclusiveStartKey map[string]json.RawMessage
	}
	if op == "Query" || op == "Scan" {
		body, err := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil || json.Unmarshal(body, &in) != nil {
			in.ExclusiveStartKey = nil // minidyn answers what it makes of it
		}
	}
	s.mu.RLock()
	key := s.key(in.TableName, in.ExclusiveStartKey)
	if key == nil || s.exists(in.TableName, key) {
		defer s.mu.RUnlock()
		s.next.ServeHTTP(w, r)
		return
	}
	s.mu.RUnlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	cond := map[string]any{
		"TableName": in.TableName, "Item": in.ExclusiveStartKey,
		"ConditionExpression":      "attribute_not_exists(#k)",
		"ExpressionAttributeNames": map[string]string{"#k": firstKey(key)},
	}
	placed := callInProcess(s.next, "PutItem", cond, nil) == nil // not when the item is back
	s.next.ServeHTTP(w, r)
	if placed {
		_ = callInProcess(s.next, "DeleteItem", map[string]any{"TableName": in.TableName, "Key": key}, nil)
	}
}

// key is the table's key in start (its other attributes are an index's),
// nil when there is no start key or it lacks one of the table's.
func (s *startKeys) key(table string, start map[string]json.RawMessage) map[string]json.RawMessage {
	if len(start) == 0 {
		return nil
	}
	names := s.keyNames(table)
	if len(names) == 0 {
		return nil
	}
	key := map[string]json.RawMessage{}
	for _, name := range names {
		v, ok := start[name]
		if !ok {
			return nil
		}
		key[name] = v
	}
	return key
}

// keyNames is table's key attributes; none when it cannot be described.
func (s *startKeys) keyNames(table string) []string {
	if names, ok := s.schemas.Load(table); ok {
		return names.([]string)
	}
	var desc struct {
		Table struct {
			KeySchema []struct{ AttributeName string }
		}
	}
	if callInProcess(s.next, "DescribeTable", map[string]any{"TableName": table}, &desc) != nil || len(desc.Table.KeySchema) == 0 {
		return nil
	}
	names := make([]string, 0, len(desc.Table.KeySchema))
	for _, k := range desc.Table.KeySchema {
		names = append(names, k.AttributeName)
	}
	s.schemas.Store(table, names)
	return names
}

func firstKey(key map[string]json.RawMessage) string {
	for k := range key {
		return k
	}
	return ""
}

// exists says whether the table holds an item under key.
func (s *startKeys) exists(table string, key map[string]json.RawMessage) bool {
	var out struct{ Item map[string]json.RawMessage }
	err := callInProcess(s.next, "GetItem", map[string]any{"TableName": table, "Key": key, "ConsistentRead": true}, &out)
	return err != nil || len(out.Item) > 0 // when it cannot tell, minidyn answers as it does
}
