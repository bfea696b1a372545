package dynamo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Item is an item, a key or a set of expression values: attribute
// values by name, as the SDK's types hold them, written and read in
// DynamoDB's JSON form ({"S": "x"}, {"N": "1"}, {"M": {...}}).
type Item map[string]types.AttributeValue

// value is one attribute value on the wire: exactly one member is set.
// Pointers tell an empty map, list or binary from an absent one.
type value struct {
	S    *string           `json:"S,omitempty"`
	N    *string           `json:"N,omitempty"`
	B    *[]byte           `json:"B,omitempty"`
	BOOL *bool             `json:"BOOL,omitempty"`
	NULL *bool             `json:"NULL,omitempty"`
	M    *map[string]value `json:"M,omitempty"`
	L    *[]value          `json:"L,omitempty"`
	SS   []string          `json:"SS,omitempty"`
	NS   []string          `json:"NS,omitempty"`
	BS   [][]byte          `json:"BS,omitempty"`
}

// MarshalJSON writes the item in DynamoDB's JSON form.
func (it Item) MarshalJSON() ([]byte, error) {
	if it == nil {
		return []byte("null"), nil
	}
	w, err := toWireMap(it)
	if err != nil {
		return nil, err
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads an item in DynamoDB's JSON form.
func (it *Item) UnmarshalJSON(b []byte) error {
	var w map[string]value
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w == nil {
		*it = nil
		return nil
	}
	m, err := fromWireMap(w)
	if err != nil {
		return err
	}
	*it = m
	return nil
}

func toWireMap(m map[string]types.AttributeValue) (map[string]value, error) {
	w := make(map[string]value, len(m))
	for k, v := range m {
		e, err := toWire(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", k, err)
		}
		w[k] = e
	}
	return w, nil
}

func toWire(v types.AttributeValue) (value, error) {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return value{S: &v.Value}, nil
	case *types.AttributeValueMemberN:
		return value{N: &v.Value}, nil
	case *types.AttributeValueMemberB:
		return value{B: &v.Value}, nil
	case *types.AttributeValueMemberBOOL:
		return value{BOOL: &v.Value}, nil
	case *types.AttributeValueMemberNULL:
		return value{NULL: &v.Value}, nil
	case *types.AttributeValueMemberM:
		m, err := toWireMap(v.Value)
		if err != nil {
			return value{}, err
		}
		return value{M: &m}, nil
	case *types.AttributeValueMemberL:
		l := make([]value, len(v.Value))
		for i, e := range v.Value {
			var err error
			if l[i], err = toWire(e); err != nil {
				return value{}, fmt.Errorf("element %d: %w", i, err)
			}
		}
		return value{L: &l}, nil
	case *types.AttributeValueMemberSS:
		if len(v.Value) == 0 {
			return value{}, errEmptySet
		}
		return value{SS: v.Value}, nil
	case *types.AttributeValueMemberNS:
		if len(v.Value) == 0 {
			return value{}, errEmptySet
		}
		return value{NS: v.Value}, nil
	case *types.AttributeValueMemberBS:
		if len(v.Value) == 0 {
			return value{}, errEmptySet
		}
		return value{BS: v.Value}, nil
	}
	return value{}, fmt.Errorf("unsupported attribute value %T", v)
}

var (
	errNoMember = errors.New("an attribute value with no member set")
	// DynamoDB refuses an empty set; written as {} it would be refused as
	// a value with no member, further from the cause.
	errEmptySet = errors.New("an empty set (DynamoDB has none)")
)

func fromWireMap(w map[string]value) (map[string]types.AttributeValue, error) {
	m := make(map[string]types.AttributeValue, len(w))
	for k, e := range w {
		v, err := fromWire(e)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", k, err)
		}
		m[k] = v
	}
	return m, nil
}

func fromWire(w value) (types.AttributeValue, error) {
	switch {
	case w.S != nil:
		return &types.AttributeValueMemberS{Value: *w.S}, nil
	case w.N != nil:
		return &types.AttributeValueMemberN{Value: *w.N}, nil
	case w.B != nil:
		return &types.AttributeValueMemberB{Value: *w.B}, nil
	case w.BOOL != nil:
		return &types.AttributeValueMemberBOOL{Value: *w.BOOL}, nil
	case w.NULL != nil:
		return &types.AttributeValueMemberNULL{Value: *w.NULL}, nil
	case w.M != nil:
		m, err := fromWireMap(*w.M)
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	case w.L != nil:
		l := make([]types.AttributeValue, len(*w.L))
		for i, e := range *w.L {
			var err error
			if l[i], err = fromWire(e); err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	case w.SS != nil:
		return &types.AttributeValueMemberSS{Value: w.SS}, nil
	case w.NS != nil:
		return &types.AttributeValueMemberNS{Value: w.NS}, nil
	case w.BS != nil:
		return &types.AttributeValueMemberBS{Value: w.BS}, nil
	}
	return nil, errNoMember
}

// Equal says whether a and b hold the same attributes with the same
// values as DynamoDB compares them: numbers by value ("1.0" is "1"), sets
// in any order.
func Equal(a, b Item) bool {
	return equalMaps(a, b)
}

func equalMaps(a, b map[string]types.AttributeValue) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !equalValues(v, w) {
			return false
		}
	}
	return true
}

func equalValues(a, b types.AttributeValue) bool {
	switch a := a.(type) {
	case *types.AttributeValueMemberS:
		b, ok := b.(*types.AttributeValueMemberS)
		return ok && a.Value == b.Value
	case *types.AttributeValueMemberN:
		b, ok := b.(*types.AttributeValueMemberN)
		return ok && equalNumbers(a.Value, b.Value)
	case *types.AttributeValueMemberB:
		b, ok := b.(*types.AttributeValueMemberB)
		return ok && bytes.Equal(a.Value, b.Value)
	case *types.AttributeValueMemberBOOL:
		b, ok := b.(*types.AttributeValueMemberBOOL)
		return ok && a.Value == b.Value
	case *types.AttributeValueMemberNULL:
		b, ok := b.(*types.AttributeValueMemberNULL)
		return ok && a.Value == b.Value
	case *types.AttributeValueMemberM:
		b, ok := b.(*types.AttributeValueMemberM)
		return ok && equalMaps(a.Value, b.Value)
	case *types.AttributeValueMemberL:
		b, ok := b.(*types.AttributeValueMemberL)
		return ok && slices.EqualFunc(a.Value, b.Value, equalValues)
	case *types.AttributeValueMemberSS:
		b, ok := b.(*types.AttributeValueMemberSS)
		return ok && sameSet(a.Value, b.Value, func(x, y string) bool { return x == y })
	case *types.AttributeValueMemberNS:
		b, ok := b.(*types.AttributeValueMemberNS)
		return ok && sameSet(a.Value, b.Value, equalNumbers)
	case *types.AttributeValueMemberBS:
		b, ok := b.(*types.AttributeValueMemberBS)
		return ok && sameSet(a.Value, b.Value, bytes.Equal)
	}
	return false
}

// equalNumbers compares two numbers as DynamoDB keeps them: by value.
func equalNumbers(a, b string) bool {
	if a == b {
		return true
	}
	x, okA := new(big.Rat).SetString(a)
	y, okB := new(big.Rat).SetString(b)
	return okA && okB && x.Cmp(y) == 0
}

// sameSet says whether a and b, sets (no element twice), hold the same
// elements.
func sameSet[E any](a, b []E, eq func(E, E) bool) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y E) bool { return eq(x, y) }) {
			return false
		}
	}
	return true
}
