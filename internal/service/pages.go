package service

import "github.com/sandstep/sandstep/internal/sandstep"

// pageSize checks a list's limit: absent means DefaultListLimit.
func pageSize(limit *int) (int, error) {
	switch {
	case limit == nil:
		return DefaultListLimit, nil
	case *limit < 1 || *limit > MaxListLimit:
		return 0, sandstep.Invalid("limit", "must be an integer from 1 to %d, got %d", MaxListLimit, *limit)
	}
	return *limit, nil
}

// listPageOverhead is kept in a page of a list for what is not its items:
// the envelope, the next page's cursor (the store's are at most 2 KiB),
// a user's quota beside a page of their sandboxes.
const listPageOverhead = 4 << 10

// fitPage reads a page of a list with read, at most limit items, and
// makes it fit one response (MaxResponseBytes): a page of whole records
// (a task's command alone may take 64 KiB, seven times that escaped
// twice) passes Lambda's 6 MB well before 100 items. A page too big is
// read again with as many items as fit, so that its cursor is the store's
// own, after its last item: nothing is skipped or given twice. A page
// holds at least one item: a record is at most DynamoDB's 400 KB, seven
// times that is under the bound.
func fitPage[T any](maxBytes, limit int, read func(limit int) ([]T, string, error)) ([]T, string, error) {
	for {
		items, next, err := read(limit)
		if err != nil {
			return nil, "", err
		}
		n := fitting(items, maxBytes-listPageOverhead)
		if n == len(items) {
			return items, next, nil
		}
		limit = n // fewer each round, and one always fits
	}
}

// fitting is how many of items, from the first, take at most room in a
// page's answer (at least one). Escaping is per character, so each item
// takes what it takes alone (wireSize), less the two quotes of the body
// string, plus a comma.
func fitting[T any](items []T, room int) int {
	for i, it := range items {
		n, _ := wireSize(it) // an item that cannot be encoded fails at the edge
		if room -= n - 1; room < 0 {
			return max(i, 1)
		}
	}
	return len(items)
}
