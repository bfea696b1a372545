package samtemplate

import (
	"regexp"
	"strings"
	"testing"
)

// A runbook that sends an operator to a reaper alarm by its kind must name
// a kind the template has an alarm for: one it has not is an alarm the
// operator looks for and never finds.
func TestDocsNameOnlyReaperKindsTheTemplateAlarms(t *testing.T) {
	tpl := loadRepo(t)
	got, _ := alarmsByName(t, tpl)
	alarmed := map[string]bool{}
	for _, a := range got {
		if a.Metric == "ReaperFindings" {
			alarmed[a.Dimensions["Kind"]] = true
		}
	}
	named := regexp.MustCompile("ReaperFindings` alarms?\\s+\\(kinds?\\s+`([a-z_]+)`")
	for name, data := range repoTextFiles(t) {
		if !strings.HasSuffix(name, ".md") {
			continue
		}
		for _, m := range named.FindAllStringSubmatch(string(data), -1) {
			if !alarmed[m[1]] {
				t.Errorf("%s sends the operator to the ReaperFindings alarm of kind %q, which no alarm of the template watches", name, m[1])
			}
		}
	}
}
