package service

import "github.com/sandstep/sandstep/internal/sandstep"

// The inputs' CheckLengths (strictjson.Bounded) refuse a list or map over
// its limit from the lengths the decoder's first pass counted, with the
// error the validation gives, in its order: a body of a few MiB of empty
// elements ({"files":[{},{},…]}) filled first took a 256 MB function to
// about 200 MB.

// CheckLengths refuses what validateCreate would for a length.
func (in CreateSandboxInput) CheckLengths(length func(string) int) error {
	return createLengths("", length)
}

// CheckLengths refuses what validateExec would for a length.
func (in ExecInput) CheckLengths(length func(string) int) error {
	return sandstep.TooMany("env", length("env"), MaxEnvVars, "variables")
}

// CheckLengths refuses what validateTask would for a length.
func (in TaskInput) CheckLengths(length func(string) int) error {
	if err := createLengths("sandbox.", length); err != nil {
		return err
	}
	if err := sandstep.TooMany("env", length("env"), MaxEnvVars, "variables"); err != nil {
		return err
	}
	return sandstep.TooMany("artifacts", length("artifacts"), MaxArtifacts, "paths")
}

// createLengths checks the lengths of a create's lists and maps, their
// paths under prefix.
func createLengths(prefix string, length func(string) int) error {
	for _, l := range []struct {
		path string
		max  int
		what string
	}{
		{"env", MaxEnvVars, "variables"},
		{"secretEnv", MaxEnvVars, "variables"},
		{"labels", MaxLabels, "labels"},
		{"network.allowList", sandstep.MaxNetworkCIDRs, "CIDRs"},
		{"network.domainAllowList", sandstep.MaxNetworkDomains, "domains"},
		{"files", MaxFiles, "files"},
	} {
		if err := sandstep.TooMany(prefix+l.path, length(prefix+l.path), l.max, l.what); err != nil {
			return err
		}
	}
	return nil
}
