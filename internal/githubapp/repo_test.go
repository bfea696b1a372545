package githubapp

import (
	"context"
	"reflect"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

func TestInstallation(t *testing.T) {
	tests := []struct {
		name string
		repo string
		want int64
		code sandstep.Code
	}{
		{"installed", testRepo, testInstallation, ""},
		{"name in another case", "Octo-Org/Hello.World", testInstallation, ""},
		{"not installed", "octo-org/elsewhere", 0, sandstep.ENOTFOUND},
		{"not a repository", "octo-org", 0, sandstep.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			got, err := f.client(t).Installation(context.Background(), tt.repo)
			if got != tt.want || sandstep.ErrorCode(err) != tt.code {
				t.Fatalf("Installation = %d, %v; want %d, code %q", got, err, tt.want, tt.code)
			}
		})
	}
}

func TestDefaultBranch(t *testing.T) {
	f := newFake(t)
	c := f.client(t)
	got, err := c.DefaultBranch(context.Background(), testInstallation, testRepo)
	if err != nil || got != "trunk" {
		t.Fatalf("DefaultBranch = %q, %v; want trunk", got, err)
	}
	want := []tokenRequest{{Installation: testInstallation, Repositories: []string{"hello.world"}, Permissions: map[string]string{"metadata": "read"}}}
	if got := f.mintedRequests(); !reflect.DeepEqual(got, want) {
		t.Errorf("token asked %+v, want only metadata: %+v", got, want)
	}
	if _, err := c.DefaultBranch(context.Background(), testInstallation, "octo-org/elsewhere"); sandstep.ErrorCode(err) != sandstep.EINVALID {
		t.Errorf("a repository outside the installation: %v, want EINVALID (GitHub's 422 on the token)", err)
	}
}

func TestPermission(t *testing.T) {
	tests := []struct {
		login   string
		want    string
		trigger bool
		code    sandstep.Code
	}{
		{"ada", PermAdmin, true, ""},
		{"mo", PermMaintain, true, ""},
		{"wu", PermWrite, true, ""},
		{"tri", PermTriage, false, ""},
		{"rey", PermRead, false, ""},
		{"nobody", PermNone, false, ""},
		{"dependabot[bot]", "", false, sandstep.ENOTFOUND},
		{"ghost-who-is-not", "", false, sandstep.ENOTFOUND},
		{"../../admin", "", false, sandstep.EINVALID},
		{"", "", false, sandstep.EINVALID},
	}
	f := newFake(t)
	c := f.client(t)
	for _, tt := range tests {
		t.Run(tt.login, func(t *testing.T) {
			got, err := c.Permission(context.Background(), testInstallation, testRepo, tt.login)
			if got != tt.want || sandstep.ErrorCode(err) != tt.code {
				t.Fatalf("Permission = %q, %v; want %q, code %q", got, err, tt.want, tt.code)
			}
			if CanTrigger(got) != tt.trigger {
				t.Errorf("CanTrigger(%q) = %v", got, !tt.trigger)
			}
		})
	}
	for _, r := range f.mintedRequests() {
		if !reflect.DeepEqual(r.Permissions, map[string]string{"metadata": "read"}) {
			t.Errorf("a permission check asked for %v, want metadata: read only", r.Permissions)
		}
	}
}

// GitHub answers a role and a legacy permission; a custom role or a
// disagreement falls back to the permission, and nothing unknown grants.
func TestPermissionOf(t *testing.T) {
	tests := []struct {
		name, role, perm, want string
	}{
		{"admin", "admin", "admin", PermAdmin},
		{"maintain reads as write", "maintain", "write", PermMaintain},
		{"triage reads as read", "triage", "read", PermTriage},
		{"custom role based on write", "security-manager", "write", PermWrite},
		{"custom role based on read", "auditor", "read", PermRead},
		{"role claiming more than the permission", "admin", "read", PermRead},
		{"no role", "", "write", PermWrite},
		{"none", "", "none", PermNone},
		{"unknown permission", "", "superuser", PermNone},
		{"nothing", "", "", PermNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := permissionOf(tt.role, tt.perm); got != tt.want {
				t.Errorf("permissionOf(%q, %q) = %q, want %q", tt.role, tt.perm, got, tt.want)
			}
		})
	}
}

func TestCanTrigger(t *testing.T) {
	for perm, want := range map[string]bool{
		PermAdmin: true, PermMaintain: true, PermWrite: true,
		PermTriage: false, PermRead: false, PermNone: false, "": false, "Admin": false,
	} {
		if CanTrigger(perm) != want {
			t.Errorf("CanTrigger(%q) = %v, want %v", perm, !want, want)
		}
	}
}
