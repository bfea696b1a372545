// Package lazyre holds regular expressions compiled on first use rather
// than at package init: every pattern a package declares would otherwise
// be compiled on every cold start, needed by its first answer or not.
package lazyre

import (
	"regexp"
	"sync"
)

// Regexp is a pattern compiled the first time it is matched; safe for
// concurrent use. A pattern that does not compile panics then, as
// regexp.MustCompile would at init; each package's tests match its own.
type Regexp struct {
	compiled func() *regexp.Regexp
}

// New returns expr, to be compiled on first use.
func New(expr string) *Regexp {
	return &Regexp{compiled: sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })}
}

// MatchString is regexp.Regexp's.
func (r *Regexp) MatchString(s string) bool { return r.compiled().MatchString(s) }

// FindStringSubmatch is regexp.Regexp's.
func (r *Regexp) FindStringSubmatch(s string) []string { return r.compiled().FindStringSubmatch(s) }

// FindStringIndex is regexp.Regexp's.
func (r *Regexp) FindStringIndex(s string) []int { return r.compiled().FindStringIndex(s) }

// String is the pattern's source text.
func (r *Regexp) String() string { return r.compiled().String() }
