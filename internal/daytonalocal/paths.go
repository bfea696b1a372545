package daytonalocal

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// resolve maps a toolbox path to a host path inside the sandbox's work
// directory: relative paths resolve against the work directory, absolute
// ones must already lie inside it (the absolute work directory is what
// /work-dir returns), and neither ".." nor a symbolic link may lead out of
// it. So "a/../b" is fine; "../x", "/etc/passwd" and "/home/daytona/x" are
// not (400).
func (sb *sandbox) resolve(p string) (string, error) {
	if p == "" {
		return "", errors.New("path is required")
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", errors.New("path contains a NUL byte")
	}
	var full string
	if filepath.IsAbs(p) {
		full = filepath.Clean(p)
	} else {
		full = filepath.Join(sb.dir, p)
	}
	if !within(sb.dir, full) {
		return "", fmt.Errorf("path %q is outside the sandbox work directory %s", p, sb.dir)
	}
	if !within(sb.dir, evalExisting(full)) {
		return "", fmt.Errorf("path %q leads outside the sandbox work directory through a symbolic link", p)
	}
	return full, nil
}

func within(root, p string) bool {
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}

// evalExisting resolves the symbolic links of the longest existing prefix
// of p and appends the rest unchanged.
func evalExisting(p string) string {
	rest := ""
	cur := p
	for {
		if real, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}
