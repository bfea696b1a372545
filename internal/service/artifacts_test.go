package service

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// dirFiles is Files over the shell provider's directory, the sandbox's
// working directory, answering as the Daytona provider does
// (daytonaprovider.Download): ENOTFOUND for no file, EINVALID naming
// artifacts, "<path> is larger than <max> bytes", past max.
type dirFiles struct{ dir string }

func (f dirFiles) Download(_ context.Context, _, p string, max int64) ([]byte, error) {
	full := p
	if !filepath.IsAbs(p) {
		full = filepath.Join(f.dir, p)
	}
	fi, err := os.Stat(full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, sandstep.Errorf(sandstep.ENOTFOUND, "%s does not exist in the sandbox", p)
	}
	if err != nil {
		return nil, err
	}
	if fi.Size() > max {
		return nil, sandstep.Invalid("artifacts", "%s is larger than %d bytes", p, max)
	}
	return os.ReadFile(full)
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// collectedArtifacts runs the collect's artifact step over paths, after setup made
// them in the sandbox, and returns what GET /tasks/{id}/artifacts lists.
func collectedArtifacts(t *testing.T, paths []string, setup func(dir string)) []Artifact {
	t.Helper()
	h := newTaskHarness(t, nil)
	h.svc.files = dirFiles{dir: h.provider.dir}
	setup(h.provider.dir)
	ctx := context.Background()
	sb, err := h.svc.sandboxes.GetSandbox(ctx, h.task.SandboxID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.collectArtifacts(ctx, h.record(t), sb, paths); err != nil {
		t.Fatalf("collectArtifacts: %v", err)
	}
	arts, err := h.svc.TaskArtifacts(ctx, alice(), h.task.ID)
	if err != nil {
		t.Fatal(err)
	}
	return arts
}

func writeFile(t *testing.T, dir, p string, data []byte) {
	t.Helper()
	full := filepath.Join(dir, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// An artifact that is a file is stored under its own name; only a
// directory, packed, is named .tar.gz (README: "packed as .tar.gz when a
// directory"). The link's last segment is what a download saves it as.
func TestAFileArtifactKeepsItsName(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		data     func(t *testing.T) []byte // nil: a directory
		wantTail string
	}{
		{"a text file", "out/report.md", func(*testing.T) []byte { return []byte("# report\n") }, "-report.md"},
		{"a directory", "dist", nil, "-dist.tar.gz"},
		{"a .tgz file", "dist/app.tgz", func(t *testing.T) []byte { return gzipped(t, "tar bytes") }, "-app.tgz"},
		{"a .svgz file", "img/logo.svgz", func(t *testing.T) []byte { return gzipped(t, "<svg/>") }, "-logo.svgz"},
		{"a gzipped file with no extension", "out/blob", func(t *testing.T) []byte { return gzipped(t, "blob") }, "-blob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arts := collectedArtifacts(t, []string{tt.path}, func(dir string) {
				if tt.data == nil {
					writeFile(t, dir, filepath.Join(tt.path, "a.txt"), []byte("a"))
					return
				}
				writeFile(t, dir, tt.path, tt.data(t))
			})
			if len(arts) != 1 || arts[0].Error != "" {
				t.Fatalf("artifacts = %+v", arts)
			}
			if !strings.HasSuffix(arts[0].URL, tt.wantTail) {
				t.Errorf("%s is downloaded from %s, want a name ending %q", tt.path, arts[0].URL, tt.wantTail)
			}
		})
	}
}

// An artifact that could not be kept is listed with an error about the
// path the task asked for, not about sandstep's own files in the sandbox.
func TestAnArtifactErrorNamesItsPath(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		setup func(t *testing.T, dir string)
	}{
		{"a missing file", "missing.txt", func(*testing.T, string) {}},
		{"a file too large", "big.bin", func(t *testing.T, dir string) {
			f, err := os.Create(filepath.Join(dir, "big.bin"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(MaxArtifactBytes + 1); err != nil {
				t.Fatal(err)
			}
		}},
		{"a directory too large once packed", "dist", func(t *testing.T, dir string) {
			data := make([]byte, MaxArtifactBytes+1<<20) // random: gzip cannot shrink it
			if _, err := rand.Read(data); err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, "dist/noise.bin", data)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arts := collectedArtifacts(t, []string{tt.path}, func(dir string) { tt.setup(t, dir) })
			if len(arts) != 1 || arts[0].Error == "" {
				t.Fatalf("artifacts = %+v, want %s listed with an error", arts, tt.path)
			}
			if msg := arts[0].Error; !strings.HasPrefix(msg, tt.path+" ") || strings.Contains(msg, ReservedDir) {
				t.Errorf("%s is listed with error %q, which names another path", tt.path, msg)
			}
		})
	}
}
