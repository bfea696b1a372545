package store

import (
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

type embeddedAttrs struct {
	Inner string `dynamodbav:"inner"`
}

type PointedAttrs struct {
	Pointed string `dynamodbav:"pointed,omitempty"`
}

type withEmbedded struct {
	embeddedAttrs
	*PointedAttrs
	Named   embeddedAttrs `dynamodbav:"named"`
	Skipped string        `dynamodbav:"-"`
	Plain   int
}

// TestKnownAttrsAreTheEncoders holds knownAttrs to the attributes
// marshalRecord writes of a record with every field set, and the store's
// own: one it misses would be brought back after this version cleared it,
// one too many would be erased when a newer version writes it.
func TestKnownAttrsAreTheEncoders(t *testing.T) {
	tests := []struct {
		name  string
		rec   any
		known map[string]bool
	}{
		{"a sandbox", &sandstep.Sandbox{}, knownAttrs[sandstep.Sandbox]()},
		{"a task", &sandstep.Task{}, knownAttrs[sandstep.Task]()},
		{"embedded structs, flattened", &withEmbedded{}, knownAttrs[withEmbedded]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fillAll(reflect.ValueOf(tt.rec).Elem(), 3)
			item, err := marshalRecord(tt.rec, tt.name)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bool{}
			for a := range item {
				want[a] = true
			}
			for _, a := range storeAttrs {
				want[a] = true
			}
			if got, w := slices.Sorted(maps.Keys(tt.known)), slices.Sorted(maps.Keys(want)); !slices.Equal(got, w) {
				t.Errorf("knownAttrs = %v, want %v", got, w)
			}
		})
	}
}

// fillAll sets every settable field of v to a value that is not empty,
// following pointers depth deep.
func fillAll(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	case reflect.Pointer:
		if depth > 0 {
			v.Set(reflect.New(v.Type().Elem()))
			fillAll(v.Elem(), depth-1)
		}
	case reflect.Map:
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillAll(k, depth)
		fillAll(e, depth)
		v.Set(reflect.MakeMap(v.Type()))
		v.SetMapIndex(k, e)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fillAll(v.Index(0), depth)
	case reflect.Array:
		for i := range v.Len() {
			fillAll(v.Index(i), depth)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(1, 0).UTC()))
			return
		}
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() || v.Type().Field(i).Anonymous {
				fillAll(f, depth)
			}
		}
	}
}
