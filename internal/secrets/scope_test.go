package secrets

import (
	"errors"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

func testScopes(t *testing.T, shared ...string) *Scopes {
	t.Helper()
	s, err := NewScopes("/sandstep/secrets/", "sandstep/", shared...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestScopesCheck(t *testing.T) {
	s := testScopes(t, "ssm:/sandstep/secrets/shared/", "secretsmanager:sandstep/shared/")
	tests := []struct {
		name, owner, ref string
		allowed          bool
	}{
		{"own ssm", "alice", "ssm:/sandstep/secrets/users/alice/token", true},
		{"own ssm, deeper", "alice", "ssm:/sandstep/secrets/users/alice/ci/npm", true},
		{"own ssm with a version", "alice", "ssm:/sandstep/secrets/users/alice/token:3", true},
		{"own secretsmanager with a key", "alice", "secretsmanager:sandstep/users/alice/db#password", true},
		{"shared ssm", "bob", "ssm:/sandstep/secrets/shared/npm", true},
		{"shared secretsmanager", "bob", "secretsmanager:sandstep/shared/npm", true},
		{"another user's ssm", "bob", "ssm:/sandstep/secrets/users/alice/token", false},
		{"another user's secretsmanager", "bob", "secretsmanager:sandstep/users/alice/db", false},
		{"a user whose id extends another's", "alice", "ssm:/sandstep/secrets/users/alice-x/token", false},
		{"the id alice/x is not under alice", "alice/x", "ssm:/sandstep/secrets/users/alice/x/token", false},
		{"nor can alice reach alice/x's", "alice", "ssm:/sandstep/secrets/users/alice_2Fx/token", false},
		{"alice/x's own, escaped", "alice/x", "ssm:/sandstep/secrets/users/alice_2Fx/token", true},
		{"an id with a pipe, escaped", "auth0|42", "ssm:/sandstep/secrets/users/auth0_7C42/token", true},
		{"an id with a dot, escaped", "a.b", "secretsmanager:sandstep/users/a_2Eb/t", true},
		{"an id with an underscore, escaped", "a_b", "ssm:/sandstep/secrets/users/a_5Fb/t", true},
		{"the literal escape is another user", "a_2Fb", "ssm:/sandstep/secrets/users/a_2Fb/t", false},
		{"case matters", "Alice", "ssm:/sandstep/secrets/users/alice/token", false},
		{"the users directory itself", "alice", "ssm:/sandstep/secrets/users/alice", false},
		{"the deployment prefix outside the trees", "alice", "ssm:/sandstep/secrets/daytona", false},
		{"outside the deployment prefix", "alice", "ssm:/sandstep/daytona-api-key", false},
		{"a repository's own", "github:Octo/Repo.js", "ssm:/sandstep/secrets/repos/octo/repo.js/deploy-key", true},
		{"a repository's own, secretsmanager", "github:octo/repo", "secretsmanager:sandstep/repos/octo/repo/npm", true},
		{"a repository and shared", "github:octo/repo", "ssm:/sandstep/secrets/shared/npm", true},
		{"another repository", "github:octo/other", "ssm:/sandstep/secrets/repos/octo/repo/deploy-key", false},
		{"a user is not its repository", "octo", "ssm:/sandstep/secrets/repos/octo/repo/deploy-key", false},
		{"a malformed repository id is a user", "github:octo", "ssm:/sandstep/secrets/users/github_3Aocto/t", true},
		{"a malformed repository id owns no repository", "github:octo/a/b", "ssm:/sandstep/secrets/repos/octo/a/b/t", false},
		{"the longest repository owner and name", "github:" + strings.Repeat("o", 39) + "/" + strings.Repeat("r", 100),
			"ssm:/sandstep/secrets/repos/" + strings.Repeat("o", 39) + "/" + strings.Repeat("r", 100) + "/t", true},
		{"an owner too long for GitHub is a user", "github:" + strings.Repeat("o", 40) + "/r",
			"ssm:/sandstep/secrets/repos/" + strings.Repeat("o", 40) + "/r/t", false},
		{"a name too long for GitHub is a user", "github:o/" + strings.Repeat("r", 101),
			"ssm:/sandstep/secrets/repos/o/" + strings.Repeat("r", 101) + "/t", false},
		{"no owner, no tree", "", "ssm:/sandstep/secrets/users//t", false},
		{"no owner, shared still", "", "ssm:/sandstep/secrets/shared/npm", true},
		{"an ARN, even of one's own", "alice", "secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:sandstep/users/alice/db-AbCdEf", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := ParseRef("secretEnv.T", tc.ref)
			if err != nil {
				if tc.allowed {
					t.Fatalf("ParseRef(%q): %v", tc.ref, err)
				}
				return // refused by its syntax: no owner can name it
			}
			err = s.Check(tc.owner, ref)
			if tc.allowed {
				if err != nil {
					t.Fatalf("Check(%q, %q): %v", tc.owner, tc.ref, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check(%q, %q) allowed it", tc.owner, tc.ref)
			}
			if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != "secretEnv.T" || !errors.Is(err, sandstep.ErrSecretScope) {
				t.Fatalf("Check(%q, %q) = %v: want EINVALID naming secretEnv.T, caused by ErrSecretScope", tc.owner, tc.ref, err)
			}
		})
	}
}

// A refusal tells the caller where their own secrets go.
func TestScopesCheckMessage(t *testing.T) {
	s := testScopes(t, "ssm:/sandstep/secrets/shared/")
	err := s.Check("bob", mustRef(t, "secretEnv.T", "ssm:/sandstep/secrets/users/alice/token"))
	for _, want := range []string{"ssm:/sandstep/secrets/users/bob/", "secretsmanager:sandstep/users/bob/", "ssm:/sandstep/secrets/shared/"} {
		if !strings.Contains(sandstep.ErrorMessage(err), want) {
			t.Errorf("message %q does not name %s", sandstep.ErrorMessage(err), want)
		}
	}
	err = s.Check("bob", mustRef(t, "git.tokenSecret", "secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:sandstep/users/bob/x-AbCdEf"))
	if !strings.Contains(sandstep.ErrorMessage(err), "by its name") || sandstep.ErrorField(err) != "git.tokenSecret" {
		t.Errorf("an ARN: %v", err)
	}
}

func TestUserSegment(t *testing.T) {
	tests := []struct{ id, want string }{
		{"alice", "alice"},
		{"8f3b2c1e-5d4a-4e6b-9c7d-2a1b0c9d8e7f", "8f3b2c1e-5d4a-4e6b-9c7d-2a1b0c9d8e7f"},
		{"auth0|5f7c8ec7", "auth0_7C5f7c8ec7"},
		{"alice/x", "alice_2Fx"},
		{"..", "_2E_2E"},
		{".", "_2E"},
		{"a_b", "a_5Fb"},
		{"alice@example.com", "alice_40example_2Ecom"},
		{"zoë", "zo_C3_AB"},
		{"github:octo", "github_3Aocto"},
	}
	seen := map[string]string{}
	for _, tc := range tests {
		got := UserSegment(tc.id)
		if got != tc.want {
			t.Errorf("UserSegment(%q) = %q, want %q", tc.id, got, tc.want)
		}
		if !onlyRunes(got, letters+"_-") {
			t.Errorf("UserSegment(%q) = %q holds a character outside letters, digits, _ and -", tc.id, got)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%q and %q share the segment %q", tc.id, other, got)
		}
		seen[got] = tc.id
	}
}

// Two different ids never share a segment: every escape starts with "_",
// and "_" itself is escaped, so the segment decodes to one id.
func FuzzUserSegmentInjective(f *testing.F) {
	for _, s := range []string{"alice", "a_2Fb", "a/b", "_", "__", "%", "zoë"} {
		f.Add(s, s+"x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if a != b && UserSegment(a) == UserSegment(b) {
			t.Fatalf("%q and %q share the segment %q", a, b, UserSegment(a))
		}
	})
}

func TestScopesExposes(t *testing.T) {
	s := testScopes(t, "ssm:/sandstep/secrets/shared/", "secretsmanager:sandstep/shared/")
	tests := []struct {
		ref     string
		exposed bool
	}{
		{"ssm:/sandstep/daytona-api-key", false},
		{"ssm:/sandstep/secrets/daytona", false},
		{"secretsmanager:sandstep/github-app-key", false},
		{"secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:sandstep/webhook-AbCdEf", false},
		{"ssm:/sandstep/secrets/users/alice/daytona", true},
		{"ssm:/sandstep/secrets/users/x:2", true},
		{"ssm:/sandstep/secrets/repos/octo/repo/key", true},
		{"ssm:/sandstep/secrets/shared/daytona", true},
		{"secretsmanager:sandstep/users/alice/key", true},
		{"secretsmanager:sandstep/shared/key#k", true},
		{"secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:sandstep/shared/webhook-AbCdEf", true},
		{"secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:sandstep/repos/o/r/key-AbCdEf", true},
	}
	for _, tc := range tests {
		t.Run(tc.ref, func(t *testing.T) {
			if got := s.Exposes(mustRef(t, "DAYTONA_API_KEY_REF", tc.ref)); got != tc.exposed {
				t.Errorf("Exposes(%s) = %v, want %v", tc.ref, got, tc.exposed)
			}
		})
	}
}

func TestNewScopes(t *testing.T) {
	tests := []struct {
		name, ssm, sm string
		shared        []string
		want          string // "" for valid
	}{
		{"defaults", "/sandstep/secrets/", "sandstep/", nil, ""},
		{"shared of both kinds", "/sandstep/secrets/", "sandstep/", []string{"ssm:/sandstep/secrets/shared/", "secretsmanager:sandstep/team/ci/"}, ""},
		{"rooted secrets manager prefix", "/sandstep/secrets/", "/sandstep/", []string{"secretsmanager:/sandstep/shared/"}, ""},
		{"ssm prefix not rooted", "sandstep/", "sandstep/", nil, `must start with "/"`},
		{"ssm prefix dot-dot", "/sandstep/../x/", "sandstep/", nil, "segment"},
		// The root would open the whole account's secrets to the functions:
		// refused, saying so, not for a slash it has.
		{"ssm prefix is the root", "/", "sandstep/", nil, `"/" is the root: it must name a directory below it`},
		{"ssm prefix is an empty segment", "//", "sandstep/", nil, "is the root"},
		{"sm prefix is only a slash", "/s/", "/", nil, `"/" is the root: it must name a directory below it`},
		{"shared prefix is the root", "/s/", "s/", []string{"ssm:/"}, "is the root"},
		{"sm prefix no trailing slash", "/s/", "sandstep", nil, "directory"},
		{"shared no scheme", "/s/", "s/", []string{"/s/shared/"}, "ssm: or secretsmanager:"},
		{"shared unknown scheme", "/s/", "s/", []string{"vault:/s/shared/"}, "ssm: or secretsmanager:"},
		{"shared no trailing slash", "/s/", "s/", []string{"ssm:/s/shared"}, "ending with"},
		{"shared dot-dot", "/s/", "s/", []string{"ssm:/s/shared/../users/"}, "segment"},
		{"shared dot", "/s/", "s/", []string{"ssm:/s/./shared/"}, "segment"},
		{"shared empty segment", "/s/", "s/", []string{"ssm:/s//shared/"}, "segment"},
		{"shared outside the prefix", "/s/", "s/", []string{"ssm:/elsewhere/"}, "must lie under"},
		{"shared only sharing a string prefix", "/s/", "s/", []string{"ssm:/sx/"}, "must lie under"},
		{"shared is the prefix", "/s/", "s/", []string{"ssm:/s/"}, "must lie under"},
		{"shared of the other scheme's prefix", "/s/", "t/", []string{"secretsmanager:s/x/"}, "must lie under"},
		{"shared is the users tree", "/s/", "s/", []string{"ssm:/s/users/"}, "overlaps"},
		{"shared inside the users tree", "/s/", "s/", []string{"secretsmanager:s/users/alice/"}, "overlaps"},
		{"shared inside the repos tree", "/s/", "s/", []string{"ssm:/s/repos/octo/"}, "overlaps"},
		{"shared with a colon", "/s/", "s/", []string{"secretsmanager:s/a:b/"}, "character"},
		{"shared with a space", "/s/", "s/", []string{"ssm:/s/a b/"}, "character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewScopes(tc.ssm, tc.sm, tc.shared...)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("NewScopes: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("NewScopes = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
