// Package secrets resolves secret references inside the Lambda that needs
// the value.
//
// Requests, task input and the environment carry references, never values:
//
//	ssm:/path/to/param             SSM Parameter Store, GetParameter with
//	                               WithDecryption (SecureString is decrypted).
//	                               A version or label selector may follow:
//	                               ssm:/path/to/param:3, ssm:/path:prod.
//	secretsmanager:<name or ARN>   Secrets Manager GetSecretValue, the
//	                               current version's SecretString.
//	secretsmanager:<id>#<key>      the same secret holding a JSON object;
//	                               the value is the object's member <key>
//	                               (a string, or a number or boolean as its
//	                               JSON text).
//
// A Resolver fetches values afresh each time (once per request under
// OneRead), coalesces concurrent fetches of one secret, reports every
// value it learns to a hook (the log redactor), and maps AWS errors to
// sandbox errors naming the input field. No error it returns holds a secret value,
// and ParseRef never echoes its input, since a value pasted where a
// reference belongs is exactly the mistake it reports.
package secrets

import (
	"fmt"
	"strings"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Scheme names the store a reference points into.
type Scheme string

// The supported schemes.
const (
	SchemeSSM            Scheme = "ssm"
	SchemeSecretsManager Scheme = "secretsmanager"
)

// Limits on the parts of a reference.
const (
	maxNameLen     = 2048 // SSM parameter ARNs and Secrets Manager ARNs
	maxSelectorLen = 100
	maxKeyLen      = 256
)

// Ref is a parsed secret reference.
type Ref struct {
	Scheme Scheme
	// Name is the SSM parameter name (with any ":selector") or the Secrets
	// Manager secret name or ARN.
	Name string
	// Key, for SchemeSecretsManager only, picks a member of a JSON secret.
	Key string
	// Field is the input field the reference came from (for example
	// "secretEnv.GITHUB_TOKEN" or "DAYTONA_API_KEY_REF"); errors about the
	// reference name it.
	Field string
}

// String returns the reference in the form ParseRef reads.
func (r Ref) String() string {
	if r.Key != "" {
		return string(r.Scheme) + ":" + r.Name + "#" + r.Key
	}
	return string(r.Scheme) + ":" + r.Name
}

// IsZero reports whether r is the zero Ref (no reference).
func (r Ref) IsZero() bool { return r.Scheme == "" && r.Name == "" }

// describe names what r points at, for error messages.
func (r Ref) describe() string {
	if r.Scheme == SchemeSSM {
		return fmt.Sprintf("SSM parameter %q", r.Name)
	}
	return fmt.Sprintf("secret %q", r.Name)
}

const refForms = "ssm:/name or secretsmanager:name[#key]"

// ParseRef parses a secret reference. field names the input it came from
// and is recorded in the Ref; a malformed reference is a sandstep.EINVALID
// error naming field. Validation is strict and the messages never quote
// the input (it may be a secret pasted by mistake):
//
//   - the scheme is "ssm" or "secretsmanager", lower case;
//   - an SSM name starts with "/", has no empty, "." or ".." path segment,
//     and holds only letters, digits and _ . - /, optionally followed by
//     ":" and a version or label of letters, digits and _ . -;
//   - a Secrets Manager id holds only letters, digits and / _ + = . @ - :
//     (names and ARNs); an ARN must be a secretsmanager secret ARN; the
//     name (the whole id, or the name inside the ARN) has no empty, "." or
//     ".." segment between "/", a leading "/" aside;
//   - a "#key" suffix is allowed only for secretsmanager and holds letters,
//     digits and _ . -.
func ParseRef(field, s string) (Ref, error) {
	if s == "" {
		return Ref{}, sandstep.Invalid(field, "must be a secret reference (%s), got an empty string", refForms)
	}
	if strings.TrimSpace(s) != s {
		return Ref{}, sandstep.Invalid(field, "secret reference must not have leading or trailing white space")
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Ref{}, sandstep.Invalid(field, "must be a secret reference (%s); the value has no scheme", refForms)
	}
	ref := Ref{Scheme: Scheme(scheme), Field: field}
	switch ref.Scheme {
	case SchemeSSM:
		if err := parseSSM(&ref, rest); err != nil {
			return Ref{}, err
		}
	case SchemeSecretsManager:
		if err := parseSecretsManager(&ref, rest); err != nil {
			return Ref{}, err
		}
	default:
		// Not even the part before the colon is quoted: a key id, a user
		// name or half a token may stand there.
		if strings.EqualFold(scheme, string(SchemeSSM)) || strings.EqualFold(scheme, string(SchemeSecretsManager)) {
			return Ref{}, sandstep.Invalid(field, "the secret reference's scheme must be lower case (%s)", refForms)
		}
		return Ref{}, sandstep.Invalid(field, "must be a secret reference (%s); the scheme is not one of ssm, secretsmanager", refForms)
	}
	return ref, nil
}

const (
	letters        = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	ssmNameRunes   = letters + "_.-/"
	selectorRunes  = letters + "_.-"
	smIDRunes      = letters + "/_+=.@-:"
	jsonKeyRunes   = letters + "_.-"
	partitionRunes = letters + "-"
)

func parseSSM(ref *Ref, rest string) error {
	f := ref.Field
	if strings.Contains(rest, "#") {
		return sandstep.Invalid(f, "a #key suffix is only supported for secretsmanager references")
	}
	name, selector, hasSelector := strings.Cut(rest, ":")
	switch {
	case name == "":
		return sandstep.Invalid(f, "SSM parameter name is empty (want ssm:/path/to/param)")
	case len(rest) > maxNameLen:
		return sandstep.Invalid(f, "SSM parameter name is longer than %d characters", maxNameLen)
	case !strings.HasPrefix(name, "/"):
		return sandstep.Invalid(f, "SSM parameter name must start with \"/\" (want ssm:/path/to/param)")
	case !onlyRunes(name, ssmNameRunes):
		return sandstep.Invalid(f, "SSM parameter name may hold only letters, digits and _ . - /")
	}
	if err := checkSegments(f, "SSM parameter name", name[1:]); err != nil {
		return err
	}
	if hasSelector {
		if selector == "" || len(selector) > maxSelectorLen || !onlyRunes(selector, selectorRunes) {
			return sandstep.Invalid(f, "SSM parameter version or label after \":\" must be 1 to %d letters, digits, _ . -", maxSelectorLen)
		}
	}
	ref.Name = rest
	return nil
}

func parseSecretsManager(ref *Ref, rest string) error {
	f := ref.Field
	id, key, hasKey := strings.Cut(rest, "#")
	switch {
	case id == "":
		return sandstep.Invalid(f, "secret id is empty (want secretsmanager:name or secretsmanager:arn)")
	case len(id) > maxNameLen:
		return sandstep.Invalid(f, "secret id is longer than %d characters", maxNameLen)
	case !onlyRunes(id, smIDRunes):
		return sandstep.Invalid(f, "secret id may hold only letters, digits and / _ + = . @ - :")
	}
	name := id
	if strings.HasPrefix(id, "arn:") {
		// arn:<partition>:secretsmanager:<region>:<account>:secret:<name>
		p := strings.SplitN(id, ":", 7)
		if len(p) != 7 || p[1] == "" || !onlyRunes(p[1], partitionRunes) || p[2] != "secretsmanager" ||
			p[3] == "" || p[4] == "" || !onlyRunes(p[4], "0123456789") || p[5] != "secret" || p[6] == "" {
			return sandstep.Invalid(f, "secret ARN must look like arn:aws:secretsmanager:<region>:<account>:secret:<name>")
		}
		name = p[6]
	} else if strings.Contains(id, ":") {
		return sandstep.Invalid(f, "secret name may not contain \":\" (only an ARN does)")
	}
	// A leading "/" is part of some secrets' names (copied from SSM paths).
	if err := checkSegments(f, "secret name", strings.TrimPrefix(name, "/")); err != nil {
		return err
	}
	if hasKey {
		if key == "" || len(key) > maxKeyLen || !onlyRunes(key, jsonKeyRunes) {
			return sandstep.Invalid(f, "JSON key after \"#\" must be 1 to %d letters, digits, _ . -", maxKeyLen)
		}
	}
	ref.Name, ref.Key = id, key
	return nil
}

// checkSegments refuses an empty, "." or ".." segment of the "/"-separated
// path p: prefixes scope references by path, so "/a/../b" and "/a//b" must
// never pass as lying under "/a/".
func checkSegments(field, what, p string) error {
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return sandstep.Invalid(field, "%s has an empty path segment", what)
		case ".", "..":
			return sandstep.Invalid(field, "%s has a %q path segment", what, seg)
		}
	}
	return nil
}

func onlyRunes(s, allowed string) bool {
	for _, r := range s {
		if !strings.ContainsRune(allowed, r) {
			return false
		}
	}
	return true
}
