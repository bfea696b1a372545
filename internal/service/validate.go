package service

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/lazyre"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// Input limits. They are part of the public contract (README "Limits").
// The network field's are sandstep.MaxNetworkCIDRs and MaxNetworkDomains,
// beside its syntax, which NETWORK_POLICY's configuration checks too.
const (
	MaxCommandBytes  = 64 << 10
	MaxEnvVars       = 100
	MaxEnvValueBytes = 32 << 10
	// MaxEnvBytes bounds an env's names and values together, as sent
	// (sentEnvBytes: quoted and encoded, a quote counting five): every
	// process the sandbox starts gets them (a sandbox's env, an exec's
	// exported before its command, and secretEnv's values, bounded alike
	// as resolved), Linux refuses to start one whose arguments and
	// environment pass 2 MiB (E2BIG), and Daytona refuses a body past its
	// limit (1 MiB for the local one).
	MaxEnvBytes  = 256 << 10
	MaxLabels    = 50
	MaxFiles     = 1000
	MaxPathBytes = 1024
	// MaxNameBytes bounds each name of a path, as file systems do
	// (NAME_MAX): a longer one fails the upload or clone half-way.
	MaxNameBytes     = 255
	MaxMetadataBytes = 256
	MaxAutoStop      = 1440
	// DefaultListLimit and MaxListLimit size a page of a list.
	DefaultListLimit = 20
	MaxListLimit     = 100
	// ReservedDir is where sandstep keeps its own files in the sandbox's
	// working directory (the secrets file); uploads may not write there.
	ReservedDir = ".sandstep"
)

// The length limits are checked apart from the patterns: a bounded
// repetition such as {0,255} compiles into that many copies of its class,
// which cost every cold start over 600 KB and several milliseconds of
// package init; and each compiles on first use, not at package init.
var (
	envNameRE = bounded{lazyre.New(`^[A-Za-z_][A-Za-z0-9_]*$`), 128}
	imageRE   = bounded{lazyre.New(`^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$`), 256}
	labelKey  = bounded{lazyre.New(`^[A-Za-z0-9][A-Za-z0-9._\-/]*$`), 128}
	branchRE  = bounded{lazyre.New(`^[A-Za-z0-9_][A-Za-z0-9._/\-]*$`), 255}
)

// bounded is a pattern of ASCII classes and a limit on its length in
// bytes (characters, for what it matches).
type bounded struct {
	re  *lazyre.Regexp
	max int
}

// check refuses field's value s when it is not of the pattern's characters,
// as what, and then when it is too long. Characters come first, so that a
// value no length makes valid is told its characters, and one told its
// length has only that to mend.
func (b bounded) check(field, s, what string) error {
	if !b.re.MatchString(s) {
		return sandstep.Invalid(field, "%q is not a valid %s", clip(s), what)
	}
	return tooLong(field, s, b.max)
}

// envName is the refusal of an environment variable's name.
const envName = "environment variable name (letters, digits and _, not starting with a digit)"

// tooLong refuses field's value s past max bytes, saying so: a pattern's
// refusal of it would blame characters that are all allowed.
func tooLong(field, s string, max int) error {
	if len(s) <= max {
		return nil
	}
	return sandstep.Invalid(field, "is %d bytes long, at most %d are allowed", len(s), max)
}

func validateID(field, id string) error {
	if id == "" {
		return sandstep.Invalid(field, "is required")
	}
	if !isID(id, "sbx_") {
		return sandstep.Invalid(field, "%q is not a sandbox id (sbx_ followed by 26 letters a-z and digits 2-7)", clip(id))
	}
	return nil
}

func validateTaskID(field, id string) error {
	if id == "" {
		return sandstep.Invalid(field, "is required")
	}
	if !isID(id, "tsk_") {
		return sandstep.Invalid(field, "%q is not a task id (tsk_ followed by 26 letters a-z and digits 2-7)", clip(id))
	}
	return nil
}

// isID says whether id is prefix and then randomID's 26 letters a-z and
// digits 2-7. Checked by hand: every lifecycle call checks an id first,
// and a pattern would be compiled on a cold start's first answer.
func isID(id, prefix string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(rest) != 26 {
		return false
	}
	for i := range len(rest) {
		if c := rest[i]; (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// clip shortens caller input quoted back in an error message.
func clip(s string) string { return sandstep.Clip(s, 64) }

func validateEnv(field string, env map[string]string) error {
	if err := sandstep.TooMany(field, len(env), MaxEnvVars, "variables"); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(env)) {
		if err := envNameRE.check(field+"."+clip(name), name, envName); err != nil {
			return err
		}
		v := env[name]
		if len(v) > MaxEnvValueBytes {
			return sandstep.Invalid(field+"."+name, "value is %d bytes, at most %d are allowed", len(v), MaxEnvValueBytes)
		}
		if err := checkEnvValue(field+"."+name, v); err != nil {
			return err
		}
	}
	if n := sentEnvBytes(env); n > MaxEnvBytes {
		return sandstep.Invalid(field, "takes %d bytes as sent (names, values, quoting), at most %d are allowed", n, MaxEnvBytes)
	}
	return nil
}

// checkEnvValue refuses, naming field and never quoting the value (a
// secretEnv's is a secret), a value no command's environment can hold: a
// NUL byte ends it in the environment, and /bin/sh drops it when the
// wrapper sources the secrets file, so the command would silently see
// another value. env's values are checked by it as they come, secretEnv's
// as they are resolved.
func checkEnvValue(field, v string) error {
	if strings.ContainsRune(v, 0) {
		return sandstep.Invalid(field, "value contains a NUL byte")
	}
	return nil
}

// validateRelPath checks a path that must stay inside the working directory
// and returns it cleaned.
func validateRelPath(field, p string) (string, error) {
	if p == "" {
		return "", sandstep.Invalid(field, "is required")
	}
	if err := tooLong(field, p, MaxPathBytes); err != nil {
		return "", err
	}
	if strings.ContainsRune(p, 0) {
		return "", sandstep.Invalid(field, "contains a NUL byte")
	}
	if path.IsAbs(p) {
		return "", sandstep.Invalid(field, "must be relative to the sandbox working directory, got %q", clip(p))
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", sandstep.Invalid(field, "escapes the sandbox working directory: %q", clip(p))
	}
	if c == "." {
		return "", sandstep.Invalid(field, "must name a file, got %q", clip(p))
	}
	if longName(c) {
		return "", sandstep.Invalid(field, "has a name longer than %d bytes: %q", MaxNameBytes, clip(p))
	}
	return c, nil
}

// longName reports whether a name of path p is over MaxNameBytes.
func longName(p string) bool {
	for name := range strings.SplitSeq(p, "/") {
		if len(name) > MaxNameBytes {
			return true
		}
	}
	return false
}

func validateMinutes(field string, v *int, lo, hi int) error {
	if v == nil {
		return nil
	}
	if *v < lo || *v > hi {
		return sandstep.Invalid(field, "must be between %d and %d minutes, got %d", lo, hi, *v)
	}
	return nil
}

// createPlan is what a valid create request comes to: its files decoded
// and the network policy its sandbox gets.
type createPlan struct {
	files   []UploadFile
	network *sandstep.NetworkPolicy
	// cloneToken, when set, gives the clone's credential (an issue's
	// task's read-only token) in place of git.tokenSecret, and files that
	// carry it. It is asked only once the quota slot is held: a task that
	// waits its turn mints nothing while it waits.
	cloneToken func(context.Context) (RepoToken, []UploadFile, error)
	// task, when set, is the task the sandbox is made for (its TaskID).
	task string
	// discarded, when set, is told of a sandbox the provider made that
	// the create failed after and deleted, with when it was deleted.
	discarded func(sb *sandstep.Sandbox, at time.Time)
	// admit, when set, says whether the sandbox may be made at all (the
	// drain switch): asked just before the slot is taken, so that its
	// answer has had the secrets' reads to arrive in.
	admit func() error
	// wanted, when set, says whether the sandbox is still wanted after a
	// wait for the create rate, which may take minutes of an invocation
	// that stopping a task's execution does not end.
	wanted func(context.Context) error
}

// validateCreate checks a create request, decodes its files and narrows
// its network policy to the deployment's.
func (s *Service) validateCreate(in *CreateSandboxInput) (createPlan, error) {
	for _, check := range []func(*CreateSandboxInput) error{
		validateSource, validateEnvs, validateLabels, s.validateTimers, validateMetadata,
	} {
		if err := check(in); err != nil {
			return createPlan{}, err
		}
	}
	network, err := s.sandboxNetwork(in.Network)
	if err != nil {
		return createPlan{}, err
	}
	files, err := validateFiles(in.Files)
	if err != nil {
		return createPlan{}, err
	}
	if g := in.Git; g != nil {
		if err := validateGit(g); err != nil {
			return createPlan{}, err
		}
		if err := filesBesideClone(files, path.Clean(clonePath(g))); err != nil {
			return createPlan{}, err
		}
	}
	return createPlan{files: files, network: network}, nil
}

// filesBesideClone refuses files in the way of the clone into dir: they
// are written first, and git then fails with the sandbox made, in words
// that name paths of the provider's host.
func filesBesideClone(files []UploadFile, dir string) error {
	for i, f := range files {
		field := fmt.Sprintf("files[%d].path", i)
		switch {
		case f.Path == dir:
			return sandstep.Invalid(field, "%q is where git clones the repository (git.path); files are written before the clone", clip(f.Path))
		case strings.HasPrefix(f.Path, dir+"/"):
			return sandstep.Invalid(field, "%q is inside %q, where git clones the repository (git.path), which must not exist yet: files are written before the clone", clip(f.Path), clip(dir))
		case strings.HasPrefix(dir, f.Path+"/"):
			return sandstep.Invalid(field, "%q is a file, but git clones into %q under it (git.path)", clip(f.Path), clip(dir))
		}
	}
	return nil
}

// validateSource checks what the sandbox is made from: a snapshot or an
// image, and resources only with an image.
func validateSource(in *CreateSandboxInput) error {
	if in.Snapshot != "" && in.Image != "" {
		return sandstep.Invalid("image", "give either snapshot or image, not both")
	}
	if in.Snapshot != "" {
		if err := imageRE.check("snapshot", in.Snapshot, "snapshot name"); err != nil {
			return err
		}
	}
	if in.Image != "" {
		if err := imageRE.check("image", in.Image, "image reference"); err != nil {
			return err
		}
	}
	r := in.Resources
	if r == nil {
		return nil
	}
	if in.Image == "" {
		return sandstep.Invalid("resources", "can only be set together with image (a snapshot fixes its resources)")
	}
	for _, f := range []struct {
		name   string
		v, max int
	}{{"resources.cpu", r.CPU, 64}, {"resources.memoryGiB", r.MemoryGiB, 256}, {"resources.diskGiB", r.DiskGiB, 1024}} {
		if f.v < 0 || f.v > f.max {
			return sandstep.Invalid(f.name, "must be between 0 and %d, got %d", f.max, f.v)
		}
	}
	return nil
}

// validateEnvs checks env and secretEnv: names, sizes, no name in both.
// The references themselves are checked by the resolver, which owns their
// syntax, before anything is reserved.
func validateEnvs(in *CreateSandboxInput) error {
	if err := validateEnv("env", in.Env); err != nil {
		return err
	}
	if err := sandstep.TooMany("secretEnv", len(in.SecretEnv), MaxEnvVars, "variables"); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(in.SecretEnv)) {
		field := "secretEnv." + clip(name)
		if err := envNameRE.check(field, name, envName); err != nil {
			return err
		}
		if _, dup := in.Env[name]; dup {
			return sandstep.Invalid(field, "is also set in env")
		}
	}
	return nil
}

func validateLabels(in *CreateSandboxInput) error {
	if err := sandstep.TooMany("labels", len(in.Labels), MaxLabels, "labels"); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(in.Labels)) {
		field := "labels." + clip(k)
		if err := labelKey.check(field, k, "label key"); err != nil {
			return err
		}
		// Daytona's label keys are case-sensitive, but SANDSTEP.owner
		// beside sandstep.owner misleads whoever reads them.
		if strings.HasPrefix(strings.ToLower(k), "sandstep.") {
			return sandstep.Invalid(field, "the sandstep. prefix is reserved, in any case")
		}
		if v := in.Labels[k]; len(v) > 256 || strings.ContainsAny(v, "\x00\r\n") {
			return sandstep.Invalid(field, "value must be at most 256 bytes on one line")
		}
	}
	return nil
}

func (s *Service) validateTimers(in *CreateSandboxInput) error {
	if err := validateMinutes("autoStopMinutes", in.AutoStopMinutes, 0, MaxAutoStop); err != nil {
		return err
	}
	return validateMinutes("ttlMinutes", in.TTLMinutes, 1, s.opts.MaxTTLMinutes)
}

func validateMetadata(in *CreateSandboxInput) error { return checkMetadata(in.Metadata) }

// checkMetadata is the rule of a sandbox's or a task's metadata: each is
// kept whole in its record and copied into every audit event.
func checkMetadata(m sandstep.Metadata) error {
	for _, f := range []struct{ name, v string }{
		{"metadata.installationId", m.InstallationID},
		{"metadata.issueId", m.IssueID},
		{"metadata.repo", m.Repo},
	} {
		if len(f.v) > MaxMetadataBytes || strings.ContainsAny(f.v, "\x00\r\n") {
			return sandstep.Invalid(f.name, "must be at most %d bytes on one line", MaxMetadataBytes)
		}
	}
	return nil
}

// validateFiles checks the files to upload and decodes them.
func validateFiles(in []File) ([]UploadFile, error) {
	if err := sandstep.TooMany("files", len(in), MaxFiles, "files"); err != nil {
		return nil, err
	}
	files := make([]UploadFile, 0, len(in))
	seen := make(map[string]int, len(in))
	dirs := make(map[string]int) // a directory of files[i]'s path -> i
	for i, f := range in {
		field := fmt.Sprintf("files[%d].path", i)
		p, err := validateRelPath(field, f.Path)
		if err != nil {
			return nil, err
		}
		if p == ReservedDir || strings.HasPrefix(p, ReservedDir+"/") {
			return nil, sandstep.Invalid(field, "%s/ is reserved for sandstep", ReservedDir)
		}
		// The Daytona client refuses a path with a line break for the
		// upload; checked here, it is refused before the sandbox is made.
		if strings.ContainsAny(p, "\r\n") {
			return nil, sandstep.Invalid(field, "must not contain a line break")
		}
		if j, dup := seen[p]; dup {
			return nil, sandstep.Invalid(field, "same path as files[%d]", j)
		}
		// One path cannot be a file and a directory: the upload would fail
		// half-way, with the sandbox made.
		if j, ok := dirs[p]; ok {
			return nil, sandstep.Invalid(field, "%q is a directory of files[%d] (%q): a path cannot be both a file and a directory", clip(p), j, clip(files[j].Path))
		}
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if j, ok := seen[d]; ok {
				return nil, sandstep.Invalid(field, "%q is inside files[%d] (%q), a file: a path cannot be both a file and a directory", clip(p), j, clip(d))
			}
			if _, ok := dirs[d]; !ok {
				dirs[d] = i
			}
		}
		seen[p] = i
		content, err := base64.StdEncoding.DecodeString(f.ContentBase64)
		if err != nil {
			return nil, sandstep.Invalid(fmt.Sprintf("files[%d].contentBase64", i), "is not valid standard base64: %v", err)
		}
		files = append(files, UploadFile{Path: p, Content: content})
	}
	return files, nil
}

func validateGit(g *GitSource) error {
	if g.URL == "" {
		return sandstep.Invalid("git.url", "is required")
	}
	u, err := url.Parse(g.URL)
	if err != nil || strings.ContainsAny(g.URL, " \t\r\n\x00") || strings.HasPrefix(g.URL, "-") {
		return sandstep.Invalid("git.url", "is not a valid URL")
	}
	switch u.Scheme {
	case "https", "http", "ssh", "git", "file":
	default:
		return sandstep.Invalid("git.url", "scheme must be https, http, ssh, git or file, got %q", clip(u.Scheme))
	}
	if u.User != nil {
		// Over http(s) a user name alone may be a token (GitHub takes
		// one there); ssh's user (git@) is no secret.
		if _, hasPassword := u.User.Password(); hasPassword || u.Scheme == "https" || u.Scheme == "http" {
			return sandstep.Invalid("git.url", "must not carry credentials; use git.tokenSecret")
		}
	}
	if g.Branch != "" {
		if err := branchRE.check("git.branch", g.Branch, "branch name"); err != nil {
			return err
		}
	}
	if g.Path != "" {
		if _, err := validateRelPath("git.path", g.Path); err != nil {
			return err
		}
	}
	field := "git.path"
	if g.Path == "" {
		field = "git.url" // the directory git would choose
	}
	if p := path.Clean(clonePath(g)); p == ReservedDir || strings.HasPrefix(p, ReservedDir+"/") {
		return sandstep.Invalid(field, "would clone into %s/, which is reserved for sandstep", ReservedDir)
	}
	if g.Path == "" && longName(repoDir(g.URL)) {
		return sandstep.Invalid(field, "would clone into a directory whose name is longer than %d bytes; set git.path", MaxNameBytes)
	}
	return nil
}

// validateCwd accepts an absolute directory, or a relative one that stays
// inside the working directory.
func validateCwd(cwd string) error {
	switch {
	case cwd == "":
		return nil
	case len(cwd) > MaxPathBytes:
		return tooLong("cwd", cwd, MaxPathBytes)
	case strings.ContainsRune(cwd, 0):
		return sandstep.Invalid("cwd", "contains a NUL byte")
	case path.IsAbs(cwd):
		return nil
	}
	if c := path.Clean(cwd); c == ".." || strings.HasPrefix(c, "../") {
		return sandstep.Invalid("cwd", "escapes the sandbox working directory: %q", clip(cwd))
	}
	return nil
}

// validateExec checks an exec request and returns the timeout to ask for.
func (s *Service) validateExec(in *ExecInput) (time.Duration, error) {
	if strings.TrimSpace(in.Command) == "" {
		return 0, sandstep.Invalid("command", "must not be empty")
	}
	if len(in.Command) > MaxCommandBytes {
		return 0, sandstep.Invalid("command", "is %d bytes, at most %d are allowed", len(in.Command), MaxCommandBytes)
	}
	if strings.ContainsRune(in.Command, 0) {
		return 0, sandstep.Invalid("command", "contains a NUL byte")
	}
	if err := validateCwd(in.Cwd); err != nil {
		return 0, err
	}
	if err := validateEnv("env", in.Env); err != nil {
		return 0, err
	}
	v := in.TimeoutSeconds
	if v == nil {
		return s.opts.DefaultExecTimeout, nil
	}
	if max := int(s.opts.MaxExecTimeout / time.Second); *v < 1 || *v > max {
		return 0, sandstep.Invalid("timeoutSeconds", "must be between 1 and %d (MAX_EXEC_TIMEOUT_SECONDS), got %d", max, *v)
	}
	return time.Duration(*v) * time.Second, nil
}
