package store

import (
	"reflect"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A record is rewritten whole (a put of this version's struct), while
// other versions write it too: a running execution calls the functions'
// versions it started with for hours after a deploy, and a rollback runs
// older code on newer records. A rewrite keeps the attributes of the item
// as read that this version does not know, so that a newer version's
// field outlives this version's writes; a known one it left out (a field
// cleared, an ended record's LivePK) stays out.

// storeAttrs are the attributes the store writes on a sandbox's or task's
// item beside its struct's fields (sandboxItem, taskItem, transition). A
// field taken out of a struct keeps its name here, or every transition
// would keep its last value for ever.
var storeAttrs = []string{attrPK, attrSK, attrGSI1PK, attrGSI1SK, attrType, attrVersion, attrUpdatedAt, TTLAttribute, attrLivePK}

var knownAttrsOf sync.Map // reflect.Type → map[string]bool

// knownAttrs is every attribute name this version writes on the item of a
// record of type T: its struct's, as the encoder names them, and the
// store's own.
func knownAttrs[T any]() map[string]bool {
	t := reflect.TypeFor[T]()
	if known, ok := knownAttrsOf.Load(t); ok {
		return known.(map[string]bool)
	}
	known := map[string]bool{}
	for _, a := range storeAttrs {
		known[a] = true
	}
	fieldAttrs(t, known, map[reflect.Type]bool{})
	knownAttrsOf.Store(t, known)
	return known
}

// fieldAttrs adds the attribute names attributevalue.MarshalMap gives t's
// fields: the dynamodbav tag's name, else the field's; none for "-"; an
// embedded struct without a name is flattened into its parent.
func fieldAttrs(t reflect.Type, names map[string]bool, seen map[reflect.Type]bool) {
	if seen[t] {
		return
	}
	seen[t] = true
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("dynamodbav"), ",")
		if name == "-" {
			continue
		}
		ft := f.Type
		if ft.Name() == "" && ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			fieldAttrs(ft, names, seen)
			continue
		}
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
}

// keepUnknown copies into item each attribute of read whose name is not
// known, unless with them item would be over MaxItemSize (this version's
// own fields grew: an error written): it then keeps none, as versions
// before this rule write every record. A newer version bears that loss;
// none bears a record refused its end for a field its writer cannot
// shrink.
func keepUnknown(item, read map[string]types.AttributeValue, known map[string]bool) {
	var kept []string
	for name, av := range read {
		if _, ok := item[name]; !ok && !known[name] {
			item[name] = av
			kept = append(kept, name)
		}
	}
	if len(kept) > 0 && checkItemSize(item) != nil {
		for _, name := range kept {
			delete(item, name)
		}
	}
}
