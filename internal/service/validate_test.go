package service

import (
	"strings"
	"testing"
)

func TestValidateCwd(t *testing.T) {
	tests := []struct {
		cwd string
		ok  bool
	}{
		{"", true},
		{".", true},
		{"src/app", true},
		{"a/../b", true},
		{"/tmp", true},
		{"..", false},
		{"../x", false},
		{"a/../../x", false},
		{"bad\x00dir", false},
		{strings.Repeat("d/", MaxPathBytes), false},
	}
	for _, tt := range tests {
		err := validateCwd(tt.cwd)
		if (err == nil) != tt.ok {
			t.Errorf("validateCwd(%q) = %v, want ok=%v", clip(tt.cwd), err, tt.ok)
		}
	}
}

func TestCommandLineQuotesEverything(t *testing.T) {
	line := commandLine(`echo "$HOME" 'x'`, "my dir", map[string]string{"B": "it's", "A": "$(rm -rf /)"})
	for _, want := range []string{
		"cd -- 'my dir' || exit 126",
		"export A='$(rm -rf /)'",
		`export B='it'\''s'`,
		`/bin/sh -c 'echo "$HOME" '\''x'\'''`,
	} {
		if !strings.Contains(line, want) {
			t.Errorf("command line lacks %q:\n%s", want, line)
		}
	}
	if strings.Index(line, "export A") > strings.Index(line, "export B") {
		t.Error("env is not exported in a stable order")
	}
}
