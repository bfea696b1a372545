package samtemplate

import (
	"bytes"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The repository must stand on its own: its documents describe the system
// in their own words and link only to what the repository holds. These tests
// sit here because this package already reads the repository's files.

const (
	repoRoot     = "../.."
	architecture = "docs/architecture.md"
)

// architectureSections are the headings code comments cite.
var architectureSections = []string{
	"Picture", "Packages", "Public HTTP contract", "Data model", "Errors",
	"Security", "The local stack", "Performance budgets",
}

// repoTextFiles returns the repository's text files by slash path, without
// build output, installed npm packages, local data and version control.
func repoTextFiles(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, path)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".git", rel == ".aws-sam", rel == "bin", rel == ".sandstep", d.Name() == "node_modules": // .git is a file in a worktree
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0 {
			return nil // binary
		}
		files[rel] = data
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files["go.mod"]; !ok {
		t.Fatalf("%s is not the repository root: no go.mod", repoRoot)
	}
	return files
}

func TestDocsStayInsideRepository(t *testing.T) {
	files := repoTextFiles(t)
	// Spelled in two parts so that this file does not match itself.
	shared := "ARCHITECTURE" + ".md"
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if bytes.Contains(files[name], []byte(shared)) {
			t.Errorf("%s mentions %s, a document outside the repository; cite %s", name, shared, architecture)
		}
		if strings.HasSuffix(name, ".md") {
			for _, p := range brokenLinks(name, string(files[name]), func(p string) bool { _, ok := files[p]; return ok || dirExists(p) }) {
				t.Errorf("%s links to %s, which is not a file of the repository", name, p)
			}
		}
	}
}

func dirExists(rel string) bool {
	fi, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(rel)))
	return err == nil && fi.IsDir()
}

var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// brokenLinks returns the relative link targets of a Markdown file (at
// slash path name) that leave the repository or name nothing in it.
func brokenLinks(name, doc string, exists func(string) bool) []string {
	var bad []string
	for _, m := range mdLink.FindAllStringSubmatch(doc, -1) {
		target := m[1]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") || strings.HasPrefix(target, "#") {
			continue
		}
		target, _, _ = strings.Cut(target, "#")
		p := filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(name), target)))
		if p == ".." || strings.HasPrefix(p, "../") || strings.HasPrefix(target, "/") || !exists(p) {
			bad = append(bad, m[1])
		}
	}
	return bad
}

func TestBrokenLinks(t *testing.T) {
	exists := func(p string) bool { return p == "README.md" || p == "docs/architecture.md" }
	tests := []struct {
		name, file, doc string
		want            []string
	}{
		{"in the repository", "README.md", "see [the page](docs/architecture.md)", nil},
		{"up and back in", "docs/architecture.md", "[r](../README.md#tests)", nil},
		{"web and anchors", "README.md", "[d](https://daytona.io) [s](#configuration)", nil},
		{"outside the repository", "README.md", "[a](../shared/notes.md)", []string{"../shared/notes.md"}},
		{"outside from a subdirectory", "docs/architecture.md", "[a](../../shared/x.md)", []string{"../../shared/x.md"}},
		{"absolute path", "README.md", "[a](/etc/passwd)", []string{"/etc/passwd"}},
		{"missing file", "README.md", "[a](docs/gone.md)", []string{"docs/gone.md"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := brokenLinks(tt.file, tt.doc, exists); !slices.Equal(got, tt.want) {
				t.Errorf("brokenLinks = %q, want %q", got, tt.want)
			}
		})
	}
}

// commentBreak joins a comment that wraps onto the next line.
var (
	commentBreak = regexp.MustCompile(`\s*\n\s*(//|#)?\s*`)
	citation     = regexp.MustCompile(regexp.QuoteMeta(architecture) + `(?:,\s*|\s*\(\s*)"([^"]+)"`)
)

// citations returns the section titles doc cites, the page's path followed
// by a quoted title in parentheses or after a comma, across wrapped comments.
func citations(doc string) []string {
	var out []string
	for _, m := range citation.FindAllStringSubmatch(commentBreak.ReplaceAllString(doc, " "), -1) {
		out = append(out, m[1])
	}
	return out
}

func TestCitations(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"parenthesised", `// The error codes of docs/architecture.md ("Errors").`, []string{"Errors"}},
		{"after a comma, wrapped", "// budget (docs/architecture.md, \"Performance\n// budgets\"): each", []string{"Performance budgets"}},
		{"yaml comment", "  # The single table of docs/architecture.md (\"Data model\"). internal", []string{"Data model"}},
		{"no title", "Budgets (docs/architecture.md): \"quoted\" later", nil},
		{"possessive", `its table to docs/architecture.md's "contract"`, nil},
		{"the path as a string", "const page = \"docs/architecture.md\"\nx := \"y\"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := citations(tt.doc); !slices.Equal(got, tt.want) {
				t.Errorf("citations = %q, want %q", got, tt.want)
			}
		})
	}
}

// docs/architecture.md has the sections the code cites, and every section a
// file cites exists.
func TestArchitectureSections(t *testing.T) {
	files := repoTextFiles(t)
	page, ok := files[architecture]
	if !ok {
		t.Fatalf("no %s", architecture)
	}
	headings := map[string]bool{}
	for line := range strings.Lines(string(page)) {
		if title, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "## "); ok {
			headings[title] = true
		}
	}
	for _, s := range architectureSections {
		if !headings[s] {
			t.Errorf("%s has no section %q", architecture, s)
		}
	}
	for name, data := range files {
		for _, title := range citations(string(data)) {
			if !headings[title] {
				t.Errorf("%s cites %s (%q), which has no such ## section", name, architecture, title)
			}
		}
	}
}
