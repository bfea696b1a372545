package api

import (
	"errors"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/strictjson"
)

// bodyField is the field named by errors about the body as a whole.
const bodyField = "body"

// decodeStrict decodes a request body or a direct invocation's payload
// into v (strictjson.Decode); an error about the whole names the body.
func decodeStrict(data []byte, v any) error {
	err := strictjson.Decode(data, v)
	var e *sandstep.Error
	if errors.As(err, &e) && e.Field == "" {
		e.Field = bodyField
	}
	return err
}
