package service

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A task's own metadata is kept whole in its record and copied into every
// audit event of the task, as a sandbox's is into its record and events:
// it is held to the same rule (MaxMetadataBytes, on one line), refused
// before anything is made (README: "Everything is validated before
// anything is made: a bad field is a 400 naming it"). Unchecked, 300
// bytes passed where a sandbox's metadata is refused, and 420 KiB kept
// the task's spec and then failed the record's write on DynamoDB's item
// limit, a 413 naming the record's attribute, not the field.
func TestTaskMetadataRefusedUpFront(t *testing.T) {
	tests := []struct {
		name  string
		meta  sandstep.Metadata
		field string
	}{
		{"repo over the limit", sandstep.Metadata{Repo: strings.Repeat("r", MaxMetadataBytes+1)}, "metadata.repo"},
		{"issue id with a line break", sandstep.Metadata{IssueID: "1\n2"}, "metadata.issueId"},
		{"installation id past an item", sandstep.Metadata{InstallationID: strings.Repeat("9", 420<<10)}, "metadata.installationId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newNoticeHarness(t, nil, nil)
			_, err := h.svc.StartTask(context.Background(), alice(), TaskInput{Command: "make", Metadata: tt.meta})
			if code, field := sandstep.ErrorCode(err), sandstep.ErrorField(err); code != sandstep.EINVALID || field != tt.field {
				t.Fatalf("StartTask = %s naming %q (%v), want %s naming %q", code, field, err, sandstep.EINVALID, tt.field)
			}
			if n := h.objects.writes(); n != 0 {
				t.Errorf("%d objects kept for a refused task, want none", n)
			}
		})
	}
}
