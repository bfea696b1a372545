package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sandstep/sandstep/internal/strictjson"
)

// mayBeLossy reports whether encoding/json could replace something in
// payload: it holds invalid UTF-8 or a \u escape of a surrogate. Most
// payloads hold neither, and are decoded once.
func mayBeLossy(payload []byte) bool {
	if !utf8.Valid(payload) {
		return true
	}
	for rest := payload; ; {
		i := bytes.Index(rest, []byte(`\u`))
		if i < 0 || i+2 >= len(rest) {
			return false
		}
		if d := rest[i+2]; d == 'd' || d == 'D' {
			return true
		}
		rest = rest[i+2:]
	}
}

// exactString is a JSON string decoded byte for byte (unquoteExact).
type exactString string

func (s *exactString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = ""
		return nil
	}
	v, ok := strictjson.UnquoteExact(b)
	if !ok {
		return errors.New("not a JSON string")
	}
	*s = exactString(v)
	return nil
}

// exactMap is a JSON object of strings decoded byte for byte, keys
// included (encoding/json decodes a map's keys before any method of ours
// could see them).
type exactMap map[string]string

func (m *exactMap) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	out := exactMap{}
	for dec.More() {
		k, err := exactToken(dec, b)
		if err != nil {
			return err
		}
		v, err := exactToken(dec, b)
		if err != nil {
			return err
		}
		out[k] = v
	}
	*m = out
	return nil
}

// exactToken reads the next token of dec, which reads b: a string,
// decoded byte for byte, or null (""), as encoding/json takes it.
func exactToken(dec *json.Decoder, b []byte) (string, error) {
	start := dec.InputOffset()
	tok, err := dec.Token()
	switch {
	case err != nil:
		return "", err
	case tok == nil:
		return "", nil
	}
	if _, ok := tok.(string); !ok {
		return "", errors.New("not a JSON string")
	}
	seg := b[start:dec.InputOffset()]
	s, ok := strictjson.UnquoteExact(seg[bytes.IndexByte(seg, '"'):])
	if !ok {
		return "", errors.New("not a JSON string")
	}
	return string(s), nil
}

// exactEvent is the part of an API Gateway event whose strings the
// handler reads as the caller's input.
type exactEvent struct {
	Body                  exactString `json:"body"`
	QueryStringParameters exactMap    `json:"queryStringParameters"`
	PathParameters        exactMap    `json:"pathParameters"`
	RequestContext        struct {
		Authorizer *struct {
			JWT *struct {
				Claims exactMap `json:"claims"`
			} `json:"jwt"`
		} `json:"authorizer"`
	} `json:"requestContext"`
}

// exactInput puts back into ev, decoded from payload, the strings that
// encoding/json may have changed, keys included, so the checks of the
// request see what was sent.
func exactInput(payload []byte, ev *events.APIGatewayV2HTTPRequest) {
	if !mayBeLossy(payload) {
		return
	}
	var x exactEvent
	if json.Unmarshal(payload, &x) != nil {
		return // ev was decoded from the same payload: not reached
	}
	ev.Body = string(x.Body)
	ev.QueryStringParameters = x.QueryStringParameters
	ev.PathParameters = x.PathParameters
	if az := x.RequestContext.Authorizer; az != nil && az.JWT != nil && ev.RequestContext.Authorizer != nil && ev.RequestContext.Authorizer.JWT != nil {
		ev.RequestContext.Authorizer.JWT.Claims = az.JWT.Claims
	}
}
