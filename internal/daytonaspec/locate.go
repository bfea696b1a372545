package daytonaspec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// EnvSpecs names the environment variable that points at the directory
// holding Daytona's published specs. A relative value is resolved against
// the repository root (the directory containing go.mod).
const EnvSpecs = "SANDSTEP_DAYTONA_SPECS"

// The spec files expected in the specs directory.
const (
	APISpecFile     = "api-openapi.json"      // main API, OpenAPI 3.0
	ToolboxSpecFile = "toolbox-openapi3.yaml" // toolbox daemon, OpenAPI 3.0
)

// defaultSpecsDir is where the specs live relative to the repository root.
const defaultSpecsDir = "../shared/daytona"

// ErrSpecsMissing is wrapped by every error that means "the specs are not
// on this machine"; Load turns it into a skip. Any other load error is a
// test failure.
var ErrSpecsMissing = errors.New("daytonaspec: Daytona specs not found")

// SpecDir decides where the specs are: $SANDSTEP_DAYTONA_SPECS if set,
// otherwise ../shared/daytona relative to the repository root. It checks
// that both spec files are present and returns an error wrapping
// ErrSpecsMissing, naming the missing path and the fix, when they are not.
func SpecDir() (string, error) {
	root, rootErr := repoRoot()
	dir, fromEnv := os.LookupEnv(EnvSpecs)
	switch {
	case fromEnv && dir == "":
		return "", missing("%s is set but empty", EnvSpecs)
	case fromEnv && !filepath.IsAbs(dir) && rootErr == nil:
		dir = filepath.Join(root, dir)
	case !fromEnv && rootErr != nil:
		return "", missing("%s is not set and the default ../shared/daytona cannot be resolved: %v", EnvSpecs, rootErr)
	case !fromEnv:
		dir = filepath.Join(root, defaultSpecsDir)
	}
	source := "default ../shared/daytona relative to the repository root"
	if fromEnv {
		source = "from " + EnvSpecs
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", missing("specs directory %s (%s): %v", dir, source, err)
	}
	if !fi.IsDir() {
		return "", missing("specs path %s (%s) is not a directory", dir, source)
	}
	for _, name := range []string{APISpecFile, ToolboxSpecFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", missing("spec file %s missing in %s (%s): %v", name, dir, source, err)
		}
	}
	return dir, nil
}

// missing builds an ErrSpecsMissing error that says what was looked for
// and how to point the lookup elsewhere.
func missing(format string, args ...any) error {
	return fmt.Errorf("%w: %s; set %s to the directory holding %s and %s (copies of github.com/daytona/clients openapi-specs; never copy them into this repository)",
		ErrSpecsMissing, fmt.Sprintf(format, args...), EnvSpecs, APISpecFile, ToolboxSpecFile)
}

// repoRoot walks up from the working directory to the directory that
// contains go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found in the working directory or any parent")
		}
		dir = parent
	}
}
