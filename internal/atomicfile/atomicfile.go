// Package atomicfile writes files so that a crash at any moment leaves the
// old content or the new one, never half of one: the local stand-ins keep
// their state in files that a kill -9 must not damage.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path's content with b: a temporary file in the same
// directory, synced, then renamed over path.
func Write(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
