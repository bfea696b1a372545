package config

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite README.md's configuration table from vars.go")

const (
	readmePath = "../../README.md"
	// The markers around the generated table in README's Configuration
	// section; what lies between them is rewritten by -update.
	tableBegin = "<!-- Generated from internal/config/vars.go by `go generate ./internal/config`: edit the table there. -->\n"
	tableEnd   = "<!-- End of the generated table. -->\n"
)

// README's configuration table is the table of vars.go, row for row; a
// variable added without regenerating it fails here.
func TestREADMEConfigTable(t *testing.T) {
	data, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	lo, hi, ok := section(readme, "## Configuration")
	if !ok {
		t.Fatal("README.md has no ## Configuration section")
	}
	begin := strings.Index(readme[lo:hi], tableBegin)
	end := strings.Index(readme[lo:hi], tableEnd)
	if begin < 0 || end < begin {
		t.Fatalf("README.md's Configuration section lacks the lines\n%s...\n%saround its table", tableBegin, tableEnd)
	}
	begin += lo + len(tableBegin)
	end += lo
	got, want := readme[begin:end], markdownTable(Vars())
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(readmePath, []byte(readme[:begin]+want+readme[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the configuration table of %s", readmePath)
		return
	}
	t.Errorf("README.md's configuration table is not internal/config/vars.go's; run `go generate ./internal/config`\n%s", lineDiff(got, want))
}

// markdownTable renders the configuration table as README shows it.
func markdownTable(vs []Var) string {
	var b strings.Builder
	b.WriteString("| variable | default | format | meaning |\n|---|---|---|---|\n")
	for _, v := range vs {
		def := v.Unset
		switch {
		case v.Default != "":
			def = "`" + v.Default + "`"
		case v.Required():
			def = "(required)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", v.Name, cell(def), cell(v.Format()), cell(v.Meaning))
	}
	return b.String()
}

// cell escapes what would end a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

// section returns the bounds of the section under heading (a whole line),
// up to the next heading of the same or a higher level.
func section(doc, heading string) (lo, hi int, ok bool) {
	level := heading[:strings.IndexFunc(heading, func(r rune) bool { return r != '#' })]
	lines := strings.SplitAfter(doc, "\n")
	pos := 0
	lo = -1
	for _, line := range lines {
		trimmed := strings.TrimRight(line, "\n")
		switch {
		case lo < 0 && trimmed == heading:
			lo = pos
		case lo >= 0 && strings.HasPrefix(trimmed, "#") && isHeadingAtMost(trimmed, len(level)):
			return lo, pos, true
		}
		pos += len(line)
	}
	return lo, len(doc), lo >= 0
}

// isHeadingAtMost reports whether line is an ATX heading of level n or less.
func isHeadingAtMost(line string, n int) bool {
	hashes := len(line) - len(strings.TrimLeft(line, "#"))
	return hashes <= n && strings.HasPrefix(line[hashes:], " ")
}

// lineDiff lists the lines only in got (-) and only in want (+).
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for _, l := range g {
		if !slices.Contains(w, l) {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range w {
		if !slices.Contains(g, l) {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}

func TestMarkdownTable(t *testing.T) {
	tests := []struct {
		name string
		v    Var
		want string
	}{
		{"default in code", Var{Name: "A_B", Default: "3s", Meaning: "m", kind: kind{format: "f"}}, "| `A_B` | `3s` | f | m |"},
		{"required", Var{Name: "T", required: true, Meaning: "m", kind: kind{format: "f"}}, "| `T` | (required) | f | m |"},
		{"unset text", Var{Name: "T", Unset: "AWS's", Meaning: "m", kind: kind{format: "f"}}, "| `T` | AWS's | f | m |"},
		{"pipes escaped", Var{Name: "P", Default: "a|b", Meaning: "x | y", kind: kind{format: "p|q"}}, "| `P` | `a\\|b` | p\\|q | x \\| y |"},
		{"cap in format", Var{Name: "D", Default: "1", atMost: "M", Meaning: "m", kind: kind{format: "integer"}}, "| `D` | `1` | integer, at most `M` | m |"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := strings.Split(strings.TrimSuffix(markdownTable([]Var{tt.v}), "\n"), "\n")
			if len(rows) != 3 || rows[2] != tt.want {
				t.Errorf("rows %q, want the header and %q", rows, tt.want)
			}
		})
	}
}

func TestSection(t *testing.T) {
	doc := "# T\n\n## A\na\n### A1\na1\n## Configuration\nc\n### Sub\ns\n## Next\nn\n"
	tests := []struct {
		name, heading, want string
		ok                  bool
	}{
		{"keeps its subsections", "## Configuration", "## Configuration\nc\n### Sub\ns\n", true},
		{"ends at the next equal heading", "## A", "## A\na\n### A1\na1\n", true},
		{"last section runs to the end", "## Next", "## Next\nn\n", true},
		{"subsection ends at a higher heading", "### Sub", "### Sub\ns\n", true},
		{"absent", "## Missing", "", false},
		{"whole line only", "## Config", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi, ok := section(doc, tt.heading)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && doc[lo:hi] != tt.want {
				t.Errorf("section %q, want %q", doc[lo:hi], tt.want)
			}
		})
	}
}
