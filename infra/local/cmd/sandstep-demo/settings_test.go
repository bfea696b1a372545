package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every variable the demo reads is in README.
func TestDemoSettingsAreInREADME(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`getenv\("([A-Z0-9_]+)"\)`).FindAllSubmatch(src, -1) {
		name := string(m[1])
		if seen[name] {
			continue
		}
		seen[name] = true
		if !strings.Contains(string(readme), "`"+name) && !strings.Contains(string(readme), name+"=") {
			t.Errorf("sandstep-demo reads %s, which README does not mention", name)
		}
	}
	if len(seen) == 0 {
		t.Fatal(`no getenv("…") call found in main.go: the test reads its settings no more`)
	}
}
