package awslocal

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sandstep/sandstep/internal/jsonproto"
)

// parameterStore is SSM Parameter Store: named, versioned values, kept in
// one JSON file.
type parameterStore struct {
	mu     sync.Mutex
	path   string
	arn    arnMaker
	now    func() time.Time
	params map[string][]paramVersion // by name; oldest version first
}

type paramVersion struct {
	Value, Type, Description string
	Version                  int64
	Modified                 time.Time
	Labels                   []string `json:",omitempty"`
}

func openParameters(path string, arn arnMaker, now func() time.Time) (*parameterStore, error) {
	ps := &parameterStore{path: path, arn: arn, now: now, params: map[string][]paramVersion{}}
	if err := loadJSON(path, &ps.params); err != nil {
		return nil, err
	}
	return ps, nil
}

func (ps *parameterStore) operations() map[string]jsonproto.Operation {
	return map[string]jsonproto.Operation{
		"PutParameter":    ps.put,
		"GetParameter":    ps.get,
		"GetParameters":   ps.getMany,
		"DeleteParameter": ps.delete,

		"LabelParameterVersion": ps.label,
	}
}

// parameter is a Parameter as GetParameter answers it.
type parameter struct {
	ARN              string
	DataType         string
	LastModifiedDate epoch
	Name             string
	Selector         string `json:",omitempty"`
	Type             string
	Value            string
	Version          int64
}

var parameterTypes = []string{"String", "StringList", "SecureString"}

func (ps *parameterStore) put(body []byte) (any, error) {
	var in struct {
		Name, Value, Type, Description, KeyId, AllowedPattern, Tier, Policies, DataType string
		Overwrite                                                                       bool
		Tags                                                                            []struct{ Key, Value string }
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := validParameterName(in.Name); err != nil {
		return nil, err
	}
	if in.Value == "" || len(in.Value) > 8192 {
		return nil, jsonproto.ClientError("ValidationException", "Value must be 1 to 8192 characters")
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	versions := ps.params[in.Name]
	if in.Type == "" && len(versions) > 0 {
		in.Type = versions[len(versions)-1].Type
	}
	if !slices.Contains(parameterTypes, in.Type) {
		return nil, jsonproto.ClientError("ValidationException", "Type must be one of %s", strings.Join(parameterTypes, ", "))
	}
	if len(versions) > 0 && !in.Overwrite {
		return nil, jsonproto.ClientError("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
	}
	v := paramVersion{Value: in.Value, Type: in.Type, Description: in.Description, Version: int64(len(versions)) + 1, Modified: ps.now().UTC()}
	ps.params[in.Name] = append(versions, v)
	if err := saveJSON(ps.path, ps.params); err != nil {
		ps.params[in.Name] = versions
		return nil, err
	}
	return map[string]any{"Version": v.Version, "Tier": "Standard"}, nil
}

func validParameterName(name string) error {
	if name == "" || len(name) > 2048 || strings.ContainsAny(name, " \t\r\n") {
		return jsonproto.ClientError("ValidationException", "Name must be 1 to 2048 characters without white space")
	}
	if strings.Contains(name, "/") && !strings.HasPrefix(name, "/") || strings.IndexFunc(name, notNameRune) >= 0 {
		return jsonproto.ClientError("ValidationException", "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_")
	}
	return nil
}

// notNameRune is a rune SSM refuses in a parameter name; ":" among them,
// so what follows one is always a version or label.
func notNameRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/_.-", r))
}

// lookup finds a parameter by name, name:version or name:label; else the
// error code of what is missing.
func (ps *parameterStore) lookup(selector string, decrypt bool) (*parameter, string) {
	name, at := selector, ""
	if i := strings.Index(selector, ":"); i >= 0 {
		name, at = selector[:i], selector[i+1:]
	}
	versions := ps.params[name]
	if len(versions) == 0 {
		return nil, "ParameterNotFound"
	}
	v := versions[len(versions)-1]
	if name != selector {
		// The parameter is there; the version or label asked for may not be.
		// A label never starts with a digit: a number is a version.
		i := -1
		if n, err := strconv.ParseInt(at, 10, 64); err != nil {
			i = slices.IndexFunc(versions, func(v paramVersion) bool { return slices.Contains(v.Labels, at) })
		} else if n >= 1 && n <= int64(len(versions)) {
			i = int(n) - 1
		}
		if i < 0 {
			return nil, "ParameterVersionNotFound"
		}
		v = versions[i]
	}
	value := v.Value
	if v.Type == "SecureString" && !decrypt {
		// What AWS returns without decryption: ciphertext, not the value.
		value = base64.StdEncoding.EncodeToString([]byte("local-kms-ciphertext:" + strconv.FormatInt(v.Version, 10)))
	}
	return &parameter{
		ARN:              ps.arn.arn("ssm", "parameter/"+strings.TrimPrefix(name, "/")),
		DataType:         "text",
		LastModifiedDate: epochOf(v.Modified),
		Name:             name,
		Selector:         strings.TrimPrefix(selector, name),
		Type:             v.Type,
		Value:            value,
		Version:          v.Version,
	}, ""
}

func (ps *parameterStore) get(body []byte) (any, error) {
	var in struct {
		Name           string
		WithDecryption bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, missing := ps.lookup(in.Name, in.WithDecryption)
	if missing != "" {
		return nil, jsonproto.ClientError(missing, "")
	}
	return map[string]any{"Parameter": p}, nil
}

func (ps *parameterStore) getMany(body []byte) (any, error) {
	var in struct {
		Names          []string
		WithDecryption bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Names) == 0 || len(in.Names) > 10 {
		return nil, jsonproto.ClientError("ValidationException", "Names must hold 1 to 10 names")
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	found, invalid := []*parameter{}, []string{}
	for _, n := range in.Names {
		if p, missing := ps.lookup(n, in.WithDecryption); missing == "" {
			found = append(found, p)
		} else {
			invalid = append(invalid, n)
		}
	}
	return map[string]any{"Parameters": found, "InvalidParameters": invalid}, nil
}

func (ps *parameterStore) delete(body []byte) (any, error) {
	var in struct{ Name string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	versions, ok := ps.params[in.Name]
	if !ok {
		return nil, jsonproto.ClientError("ParameterNotFound", "")
	}
	delete(ps.params, in.Name)
	if err := saveJSON(ps.path, ps.params); err != nil {
		ps.params[in.Name] = versions
		return nil, fmt.Errorf("save: %w", err)
	}
	return map[string]any{}, nil
}

// label attaches labels to a version (the latest by default), moving each
// from the version that held it; a label SSM's rules refuse is answered in
// InvalidLabels and attached nowhere.
func (ps *parameterStore) label(body []byte) (any, error) {
	var in struct {
		Name             string
		ParameterVersion *int64
		Labels           []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Labels) == 0 || len(in.Labels) > 10 {
		return nil, jsonproto.ClientError("ValidationException", "Labels must hold 1 to 10 labels")
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	versions := ps.params[in.Name]
	if len(versions) == 0 {
		return nil, jsonproto.ClientError("ParameterNotFound", "")
	}
	n := int64(len(versions))
	if in.ParameterVersion != nil {
		n = *in.ParameterVersion
	}
	if n < 1 || n > int64(len(versions)) {
		return nil, jsonproto.ClientError("ParameterVersionNotFound", "")
	}
	valid, invalid := []string{}, []string{}
	for _, l := range in.Labels {
		if validLabel(l) {
			valid = append(valid, l)
		} else {
			invalid = append(invalid, l)
		}
	}
	next := make([]paramVersion, len(versions))
	for i, v := range versions {
		v.Labels = slices.DeleteFunc(slices.Clone(v.Labels), func(l string) bool { return slices.Contains(valid, l) })
		if int64(i) == n-1 {
			for _, l := range valid {
				if !slices.Contains(v.Labels, l) {
					v.Labels = append(v.Labels, l)
				}
			}
			if len(v.Labels) > 10 {
				return nil, jsonproto.ClientError("ParameterVersionLabelLimitExceeded", "A parameter version can have a maximum of ten labels.")
			}
		}
		next[i] = v
	}
	ps.params[in.Name] = next
	if err := saveJSON(ps.path, ps.params); err != nil {
		ps.params[in.Name] = versions
		return nil, fmt.Errorf("save: %w", err)
	}
	return map[string]any{"InvalidLabels": invalid, "ParameterVersion": n}, nil
}

// validLabel is SSM's rule: 1 to 100 letters, digits, . - _, not opening
// with a digit, "aws" or "ssm".
func validLabel(l string) bool {
	lower := strings.ToLower(l)
	return l != "" && len(l) <= 100 && (l[0] < '0' || l[0] > '9') &&
		!strings.HasPrefix(lower, "aws") && !strings.HasPrefix(lower, "ssm") &&
		strings.IndexFunc(l, func(r rune) bool { return r == '/' || notNameRune(r) }) < 0
}
