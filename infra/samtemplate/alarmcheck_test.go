package samtemplate

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The runbooks' check of a stack's alarms in ALARM must list that stack's
// alarms and no other's. samconfig.toml deploys sandstep and
// sandstep-staging with the same profile, so to one account and region;
// a check by the name prefix "sandstep-" on production lists staging's
// alarms as well, and a rollback verified that way reads staging's
// trouble as production's.
func TestAlarmCheckListsOnlyItsStack(t *testing.T) {
	stacks := samconfigStacks(t)
	if len(stacks) < 2 {
		t.Fatalf("samconfig.toml stacks %v: want production and staging", stacks)
	}
	got, _ := alarmsByName(t, loadRepo(t))
	var suffixes []string // the alarms' names after "<stack>-"
	for name := range got {
		s, ok := strings.CutPrefix(name, "sandstep-local-")
		if !ok {
			t.Fatalf("alarm %q is not named after its stack", name)
		}
		suffixes = append(suffixes, s)
	}
	checks := alarmChecks(t)
	if len(checks) == 0 {
		t.Fatal("no runbook lists the alarms in ALARM (aws cloudwatch describe-alarms)")
	}
	for _, check := range checks {
		for _, stack := range stacks {
			for _, owner := range stacks {
				name := "on " + stack + ", the alarms of " + owner
				t.Run(name, func(t *testing.T) {
					var wrong []string
					for _, s := range suffixes {
						alarm := owner + "-" + s
						if selects(t, check, stack, owner, alarm) != (owner == stack) {
							wrong = append(wrong, alarm)
						}
					}
					if len(wrong) > 0 {
						slices.Sort(wrong)
						what := "lists " + owner + "'s"
						if owner == stack {
							what = "misses its own"
						}
						t.Errorf("%s, with STACK=%s, %s %v:\n%s", check.where, stack, what, wrong, check.cmd)
					}
				})
			}
		}
	}
}

// alarmCheck is a runbook command that lists alarms.
type alarmCheck struct{ where, cmd string }

// alarmChecks are the runbooks' commands (continuation lines joined, with
// the line before when it sets a variable the command reads) that run
// aws cloudwatch describe-alarms.
func alarmChecks(t *testing.T) []alarmCheck {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot, "docs", "runbooks", "*.md"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("runbooks: %v", err)
	}
	var out []alarmCheck
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cmds := strings.Split(strings.ReplaceAll(string(data), "\\\n", " "), "\n")
		for i, c := range cmds {
			if !strings.Contains(c, "describe-alarms") {
				continue
			}
			full := c
			if i > 0 && regexp.MustCompile(`^\w+=\$\(`).MatchString(cmds[i-1]) {
				full = cmds[i-1] + "\n" + c
			}
			out = append(out, alarmCheck{filepath.Base(p), full})
		}
	}
	return out
}

var (
	prefixRE = regexp.MustCompile(`--alarm-name-prefix\s+"([^"]*)"`)
	// The names of the stack's own AWS::CloudWatch::Alarm resources.
	ownRE = regexp.MustCompile(`list-stack-resources\s+--stack-name\s+"\$STACK"\s.*ResourceType=='AWS::CloudWatch::Alarm'\]\.PhysicalResourceId`)
)

// selects reports whether check, run with STACK=stack, lists alarm, one
// of owner's.
func selects(t *testing.T, c alarmCheck, stack, owner, alarm string) bool {
	t.Helper()
	if m := prefixRE.FindStringSubmatch(c.cmd); m != nil {
		return strings.HasPrefix(alarm, strings.ReplaceAll(m[1], "$STACK", stack))
	}
	if ownRE.MatchString(c.cmd) && strings.Contains(c.cmd, "--alarm-names") {
		// An alarm resource's physical id is its name.
		return owner == stack
	}
	t.Fatalf("%s: which alarms this lists is not understood:\n%s", c.where, c.cmd)
	return false
}

// samconfigStacks are the stack names samconfig.toml deploys.
func samconfigStacks(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^stack_name\s*=\s*"([^"]+)"`).FindAllStringSubmatch(string(data), -1) {
		out = append(out, m[1])
	}
	return out
}
