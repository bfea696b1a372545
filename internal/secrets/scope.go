package secrets

import (
	"fmt"
	"strings"

	"github.com/sandstep/sandstep/internal/lazyre"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// Scopes is the rule of which secret references a caller may name. One
// Lambda role serves every caller and may read everything under the
// deployment's prefixes, so IAM cannot tell callers apart: this check, in
// code, is what keeps one caller out of another's secrets.
//
// Below the deployment's prefixes P (SSM) and M (Secrets Manager):
//
//	a user u              ssm:P users/<UserSegment(u)>/
//	                      secretsmanager:M users/<UserSegment(u)>/
//	a repository, owner   ssm:P repos/<owner>/<repo>/
//	github:<owner>/<repo> secretsmanager:M repos/<owner>/<repo>/
//	                      (owner and repo in lower case: GitHub's names
//	                      ignore case)
//	everyone              the shared prefixes (SECRETS_SHARED_PREFIXES)
//
// Callers name Secrets Manager secrets by name, never by ARN: an ARN may
// point into another region or account, where a name under M says nothing.
// Everything else under P and M (the deployment's own secrets, if kept
// there) no caller may name.
type Scopes struct {
	ssm, sm string
	shared  []string
}

// The directories of owners' trees below the deployment's prefixes.
const (
	UsersDir = "users/"
	ReposDir = "repos/"
)

// RepoOwnerPrefix starts the user id of a repository that owns tasks
// (the GitHub webhook's): github:<owner>/<repo>.
const RepoOwnerPrefix = "github:"

// GitHub's names: an owner is letters, digits and single hyphens, at most
// 39, a repository letters, digits and - _ . (never "." or ".."), at most
// 100. The lengths are checked apart: bounded repetitions ({0,38}) compile
// into copies of their class, milliseconds of every cold start.
var repoOwnerRE = lazyre.New(`^github:([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9._-]+)$`)

const (
	maxRepoOwner = 39
	maxRepoName  = 100
)

// NewScopes returns the rule for a deployment whose callers' references
// lie under ssmPrefix (SECRETS_SSM_PREFIX, "/…/") and smPrefix
// (SECRETS_MANAGER_PREFIX, "…/"), with shared the prefixes every caller
// may name, each a full reference prefix such as
// "ssm:/sandstep/secrets/shared/". A shared prefix must end with "/", lie
// strictly under its scheme's deployment prefix, hold no empty, "." or ".."
// segment, and neither hold nor lie inside the users/ or repos/ trees.
func NewScopes(ssmPrefix, smPrefix string, shared ...string) (*Scopes, error) {
	if err := CheckSSMPrefix(ssmPrefix); err != nil {
		return nil, err
	}
	if err := CheckManagerPrefix(smPrefix); err != nil {
		return nil, err
	}
	s := &Scopes{ssm: ssmPrefix, sm: smPrefix}
	for _, p := range shared {
		if err := s.checkShared(p); err != nil {
			return nil, err
		}
		s.shared = append(s.shared, p)
	}
	return s, nil
}

// CheckSSMPrefix checks a deployment's SSM prefix (SECRETS_SSM_PREFIX) as
// NewScopes does.
func CheckSSMPrefix(p string) error { return checkPrefix("SSM", p, ssmNameRunes, true) }

// CheckManagerPrefix checks a deployment's Secrets Manager prefix
// (SECRETS_MANAGER_PREFIX) as NewScopes does.
func CheckManagerPrefix(p string) error {
	return checkPrefix("Secrets Manager", p, smIDRunes, false)
}

// checkPrefix checks a name prefix: it ends with "/", starts with "/" if
// rooted, names a directory below the root and holds no empty, "." or
// ".." segment. The root is refused: the functions may read everything
// under the deployment's prefixes (IAM), and everything would be the
// whole account's secrets, the deployment's own among them.
func checkPrefix(what, p, runes string, rooted bool) error {
	rest := strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/")
	switch {
	case rooted && !strings.HasPrefix(p, "/"):
		return fmt.Errorf("the %s prefix %q must start with \"/\"", what, p)
	case !strings.HasSuffix(p, "/"):
		return fmt.Errorf("the %s prefix %q must name a directory ending with \"/\"", what, p)
	case rest == "":
		return fmt.Errorf("the %s prefix %q is the root: it must name a directory below it (the functions may read everything under the prefix)", what, p)
	case strings.Contains(p, ":") || !onlyRunes(p, runes):
		return fmt.Errorf("the %s prefix %q holds a character a name may not", what, p)
	case checkSegments("", "", rest) != nil:
		return fmt.Errorf("the %s prefix %q has an empty, \".\" or \"..\" segment", what, p)
	}
	return nil
}

func (s *Scopes) checkShared(p string) error {
	scheme, rest, _ := strings.Cut(p, ":")
	var base string
	switch Scheme(scheme) {
	case SchemeSSM:
		base = s.ssm
		if err := checkPrefix("shared SSM", rest, ssmNameRunes, true); err != nil {
			return err
		}
	case SchemeSecretsManager:
		base = s.sm
		if err := checkPrefix("shared Secrets Manager", rest, smIDRunes, false); err != nil {
			return err
		}
	default:
		return fmt.Errorf("the shared prefix %q must start with ssm: or secretsmanager: (a scheme)", p)
	}
	if !strings.HasPrefix(rest, base) || rest == base {
		return fmt.Errorf("the shared prefix %q must lie under the deployment's %s prefix %q", p, scheme, base)
	}
	for _, tree := range []string{base + UsersDir, base + ReposDir} {
		if strings.HasPrefix(tree, rest) || strings.HasPrefix(rest, tree) {
			return fmt.Errorf("the shared prefix %q overlaps %q, where owners' own secrets are", p, tree)
		}
	}
	return nil
}

// UserSegment is the path segment of user id in the users/ tree. ASCII
// letters, digits and "-" stand for themselves; every other byte of the
// id is "_" and its two hex digits, upper case ("auth0|42" is
// "auth0_7C42", "a/b" is "a_2Fb"). The segment never holds "/" or ".",
// and two ids never share one.
func UserSegment(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "_%02X", c)
	}
	return b.String()
}

// ownTree is owner's directory below a deployment prefix, "" for none.
func ownTree(owner string) string {
	if m := repoOwnerRE.FindStringSubmatch(owner); m != nil && len(m[1]) <= maxRepoOwner && len(m[2]) <= maxRepoName && m[2] != "." && m[2] != ".." {
		return ReposDir + strings.ToLower(m[1]) + "/" + strings.ToLower(m[2]) + "/"
	}
	if owner == "" {
		return ""
	}
	return UsersDir + UserSegment(owner) + "/"
}

// Of returns the reference prefixes owner may name: its own tree in SSM
// and Secrets Manager, then the shared prefixes.
func (s *Scopes) Of(owner string) []string {
	var out []string
	if t := ownTree(owner); t != "" {
		out = append(out, string(SchemeSSM)+":"+s.ssm+t, string(SchemeSecretsManager)+":"+s.sm+t)
	}
	return append(out, s.shared...)
}

// Check returns nil if owner may name ref, else an EINVALID error naming
// ref.Field whose cause is sandstep.ErrSecretScope. It reads nothing, so
// its answer says nothing about whether the secret exists.
func (s *Scopes) Check(owner string, ref Ref) error {
	if ref.Scheme == SchemeSecretsManager && strings.HasPrefix(ref.Name, "arn:") {
		return denied(ref, "a caller names a Secrets Manager secret by its name (secretsmanager:<name>), not by its ARN")
	}
	mine := s.Of(owner)
	if underAny(ref.target(false), mine) {
		return nil
	}
	return denied(ref, "%s is not among the secrets you may name (those under %s)", ref.describe(), strings.Join(mine, ", "))
}

// Exposes reports whether some caller may name ref: the deployment's own
// secrets (the Daytona key, the webhook secret, the App key) must not be
// in any owner's tree nor under a shared prefix. A Secrets Manager ARN
// counts by the name inside it.
func (s *Scopes) Exposes(ref Ref) bool {
	trees := append([]string{
		string(SchemeSSM) + ":" + s.ssm + UsersDir, string(SchemeSSM) + ":" + s.ssm + ReposDir,
		string(SchemeSecretsManager) + ":" + s.sm + UsersDir, string(SchemeSecretsManager) + ":" + s.sm + ReposDir,
	}, s.shared...)
	return underAny(ref.target(true), trees)
}

// target is ref as "<scheme>:<name>" without an SSM selector or a JSON
// key; inARN takes a Secrets Manager ARN's name instead of the ARN.
func (r Ref) target(inARN bool) string {
	name := r.Name
	switch {
	case r.Scheme == SchemeSSM:
		name, _, _ = strings.Cut(name, ":")
	case inARN && strings.HasPrefix(name, "arn:"):
		if p := strings.SplitN(name, ":", 7); len(p) == 7 {
			name = p[6]
		}
	}
	return string(r.Scheme) + ":" + name
}

func underAny(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func denied(ref Ref, format string, args ...any) error {
	e := sandstep.Invalid(ref.Field, format, args...)
	e.Err = sandstep.ErrSecretScope
	return e
}
