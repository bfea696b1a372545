package store

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Limits on what the store accepts.
const (
	// MaxIDLength is the longest user, sandbox or task id, in bytes: a
	// repository's user id is the longest.
	MaxIDLength = sandstep.MaxRepoUserIDLength
	// MaxIdempotencyKeyLength is the longest idempotency key, in bytes.
	MaxIdempotencyKeyLength = 255
	// MaxItemSize is DynamoDB's item size limit (400 KB). The store computes
	// an item's size before writing it and refuses larger ones, so a write
	// never fails half way on size.
	MaxItemSize = 400 * 1024
)

// validateID checks a user, sandbox or task id. Ids become parts of keys
// ("SBX#<id>"), so '#' is refused; so are whitespace, control characters and
// invalid UTF-8.
func validateID(field, id string) error {
	return validateKeyPart(field, id, MaxIDLength, false)
}

func validateKeyPart(field, v string, maxLen int, allowHash bool) error {
	switch {
	case v == "":
		return sandstep.Invalid(field, "must not be empty")
	case len(v) > maxLen:
		return sandstep.Invalid(field, "must be at most %d bytes, got %d", maxLen, len(v))
	case !utf8.ValidString(v):
		return sandstep.Invalid(field, "must be valid UTF-8")
	case !allowHash && strings.Contains(v, "#"):
		return sandstep.Invalid(field, "must not contain '#'")
	}
	for _, r := range v {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return sandstep.Invalid(field, "must not contain whitespace or control characters")
		}
	}
	return nil
}

// checkItemSize refuses an item over MaxItemSize with ETOOLARGE naming the
// largest attribute, which is the field to shrink.
func checkItemSize(item map[string]types.AttributeValue) error {
	total := 0
	biggest, biggestSize := "", -1
	// Sorted: a deterministic field name on ties.
	for _, name := range slices.Sorted(maps.Keys(item)) {
		n := len(name) + attrSize(item[name])
		total += n
		if n > biggestSize {
			biggest, biggestSize = name, n
		}
	}
	if total > MaxItemSize {
		return &sandstep.Error{
			Code:    sandstep.ETOOLARGE,
			Field:   biggest,
			Message: "the record would be " + strconv.Itoa(total) + " bytes; the limit is " + strconv.Itoa(MaxItemSize),
		}
	}
	return nil
}

// attrSize follows DynamoDB's item size rules, rounding up where they are
// approximate (numbers), so it never underestimates.
func attrSize(av types.AttributeValue) int {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return len(v.Value)/2 + 2
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range v.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range v.Value {
			n += len(s)/2 + 2
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range v.Value {
			n += len(b)
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + attrSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + attrSize(e)
		}
		return n
	}
	return 0
}
