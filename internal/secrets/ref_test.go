package secrets

import (
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

func TestParseRef(t *testing.T) {
	const field = "secretEnv.GITHUB_TOKEN"
	valid := []struct {
		in   string
		want Ref
	}{
		{"ssm:/sandstep/github/token", Ref{Scheme: SchemeSSM, Name: "/sandstep/github/token"}},
		{"ssm:/a", Ref{Scheme: SchemeSSM, Name: "/a"}},
		{"ssm:/app/prod.db-pass_word", Ref{Scheme: SchemeSSM, Name: "/app/prod.db-pass_word"}},
		{"ssm:/app/key:3", Ref{Scheme: SchemeSSM, Name: "/app/key:3"}},
		{"ssm:/app/key:prod-label", Ref{Scheme: SchemeSSM, Name: "/app/key:prod-label"}},
		{"secretsmanager:sandstep/daytona", Ref{Scheme: SchemeSecretsManager, Name: "sandstep/daytona"}},
		{"secretsmanager:my+secret=.@-_x", Ref{Scheme: SchemeSecretsManager, Name: "my+secret=.@-_x"}},
		{"secretsmanager:sandstep/db#password", Ref{Scheme: SchemeSecretsManager, Name: "sandstep/db", Key: "password"}},
		{"secretsmanager:/prod/db", Ref{Scheme: SchemeSecretsManager, Name: "/prod/db"}},
		{"secretsmanager:sandstep/a..b/.x/x.", Ref{Scheme: SchemeSecretsManager, Name: "sandstep/a..b/.x/x."}},
		{"ssm:/app/a..b/.hidden", Ref{Scheme: SchemeSSM, Name: "/app/a..b/.hidden"}},
		{"secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:sandstep/gh-AbCdEf",
			Ref{Scheme: SchemeSecretsManager, Name: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sandstep/gh-AbCdEf"}},
		{"secretsmanager:arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x-AbCdEf#api_key",
			Ref{Scheme: SchemeSecretsManager, Name: "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x-AbCdEf", Key: "api_key"}},
	}
	for _, tc := range valid {
		t.Run("valid/"+tc.in, func(t *testing.T) {
			got, err := ParseRef(field, tc.in)
			if err != nil {
				t.Fatalf("ParseRef(%q): %v", tc.in, err)
			}
			tc.want.Field = field
			if got != tc.want {
				t.Fatalf("ParseRef(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if got.String() != tc.in {
				t.Fatalf("String() = %q, want the input %q back", got.String(), tc.in)
			}
		})
	}

	invalid := []struct {
		name, in, want string
	}{
		{"empty", "", "empty string"},
		{"plain value pasted", "ghp_abcdef0123456789", "no scheme"},
		{"unknown scheme", "vault:/secret/x", "scheme is not one of"},
		{"upper-case scheme", "SSM:/x", "must be lower case"},
		{"upper-case scheme, long", "SecretsManager:x", "must be lower case"},
		{"a key pasted", "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG", "scheme is not one of"},
		{"a user and password pasted", "svc-deploy:Sup3rS3cret", "scheme is not one of"},
		{"scheme with odd characters", "dtn_k3y!%:zzz", "scheme is not one of"},
		{"leading space", " ssm:/x", "white space"},
		{"trailing newline", "ssm:/x\n", "white space"},
		{"ssm empty name", "ssm:", "name is empty"},
		{"ssm no leading slash", "ssm:sandstep-key", `must start with "/"`},
		{"ssm double slash", "ssm:/a//b", "empty path segment"},
		{"ssm trailing slash", "ssm:/a/", "empty path segment"},
		{"ssm dot-dot escapes the prefix", "ssm:/sandstep/secrets/../../x", `".." path segment`},
		{"ssm dot-dot at the end", "ssm:/sandstep/secrets/users/bob/..", `".." path segment`},
		{"ssm dot-dot with a selector", "ssm:/sandstep/secrets/../x:3", `".." path segment`},
		{"ssm dot segment", "ssm:/sandstep/secrets/./x", `"." path segment`},
		{"ssm root only", "ssm:/", "empty path segment"},
		{"ssm space", "ssm:/a b", "only letters"},
		{"ssm unicode", "ssm:/pässword", "only letters"},
		{"ssm key suffix", "ssm:/a#k", "only supported for secretsmanager"},
		{"ssm empty selector", "ssm:/a:", "version or label"},
		{"ssm bad selector", "ssm:/a:x/y", "version or label"},
		{"ssm two selectors", "ssm:/a:1:2", "version or label"},
		{"ssm too long", "ssm:/" + strings.Repeat("a", maxNameLen), "longer than"},
		{"sm empty", "secretsmanager:", "secret id is empty"},
		{"sm only key", "secretsmanager:#k", "secret id is empty"},
		{"sm empty key", "secretsmanager:x#", "JSON key"},
		{"sm bad key", "secretsmanager:x#a b", "JSON key"},
		{"sm two hashes", "secretsmanager:x#a#b", "JSON key"},
		{"sm dot-dot", "secretsmanager:sandstep/users/bob/../alice/x", `".." path segment`},
		{"sm dot", "secretsmanager:sandstep/./x", `"." path segment`},
		{"sm double slash", "secretsmanager:sandstep//x", "empty path segment"},
		{"sm trailing slash", "secretsmanager:sandstep/x/", "empty path segment"},
		{"sm only a slash", "secretsmanager:/", "empty path segment"},
		{"sm dot-dot with a key", "secretsmanager:sandstep/../x#k", `".." path segment`},
		{"sm dot-dot inside an arn", "secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:sandstep/../x-AbCdEf", `".." path segment`},
		{"sm bad character", "secretsmanager:a*b", "only letters"},
		{"sm colon in name", "secretsmanager:a:b", `may not contain ":"`},
		{"sm arn wrong service", "secretsmanager:arn:aws:ssm:eu-west-1:123456789012:parameter/x", "secret ARN"},
		{"sm arn short", "secretsmanager:arn:aws:secretsmanager:eu-west-1", "secret ARN"},
		{"sm arn bad account", "secretsmanager:arn:aws:secretsmanager:eu-west-1:acct:secret:x", "secret ARN"},
		{"sm too long", "secretsmanager:" + strings.Repeat("a", maxNameLen+1), "longer than"},
	}
	for _, tc := range invalid {
		t.Run("invalid/"+tc.name, func(t *testing.T) {
			_, err := ParseRef(field, tc.in)
			if err == nil {
				t.Fatalf("ParseRef(%q) succeeded", tc.in)
			}
			if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != field {
				t.Fatalf("error %v: code %q field %q, want %q %q", err, sandstep.ErrorCode(err), sandstep.ErrorField(err), sandstep.EINVALID, field)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			// The input may be a secret pasted in the wrong place: no part
			// of it is echoed.
			for _, part := range strings.SplitN(tc.in, ":", 2) {
				if len(part) >= 4 && strings.Contains(err.Error(), part) && !strings.Contains(refForms, part) {
					t.Fatalf("error %q echoes the input", err)
				}
			}
		})
	}
}
