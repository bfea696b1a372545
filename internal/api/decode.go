package api

import "github.com/sandstep/sandstep/internal/strictjson"

// bodyField is the field named by errors about the body as a whole.
const bodyField = "body"

// decodeStrict decodes a request body or a direct invocation's payload
// into v (strictjson.Decode); an error about the whole names the body.
func decodeStrict(data []byte, v any) error {
	return strictjson.Named(bodyField, strictjson.Decode(data, v))
}
