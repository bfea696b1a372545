package service

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/metrics"
	"github.com/sandstep/sandstep/internal/pause"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// RepoAccess is what an issue's task does on its repository as the
// GitHub App: tokens scoped to the one repository, and the pull request.
type RepoAccess interface {
	// ReadToken can only read the repository's contents: the agent's.
	ReadToken(ctx context.Context, installationID int64, repo string) (RepoToken, error)
	// PushToken can push and open pull requests: sandstep's, never the
	// agent's.
	PushToken(ctx context.Context, installationID int64, repo string) (RepoToken, error)
	// Revoke ends a token before it expires.
	Revoke(ctx context.Context, token string) error
	// OpenPullRequest opens (or finds the open) pull request from head
	// into base and answers its web URL.
	OpenPullRequest(ctx context.Context, installationID int64, repo, head, base, title, body string) (string, error)
}

// RepoToken is an installation token; Value is a credential.
type RepoToken struct {
	Value     string
	ExpiresAt time.Time
	// Settled is when GitHub knows it everywhere: until then GitHub may
	// refuse it for a moment (401, or 403 while its permissions
	// replicate), and a clone or push it refuses goes again.
	Settled time.Time
}

// The files through which tokens reach an issue's sandbox, in git's
// credential-helper format. The agent's is refreshed while the task runs;
// the push's exists for the one push.
const (
	readCredential = ReservedDir + "/github-credential"
	pushCredential = ReservedDir + "/push-credential"
)

// refreshAhead is how long before the agent's token expires the watch
// replaces it: less than githubapp's cache keeps a token, so the token
// minted then is a new one.
const refreshAhead = 9 * time.Minute

// refreshRetry is the least wait before the watch's next look when the
// token is due: a refresh that failed is tried again then, not at once.
const refreshRetry = time.Minute

// taskMark is the environment entry every process of a task's command
// inherits, so the processes it left behind can be found and killed.
func taskMark(taskID string) string { return "SANDSTEP_TASK=" + taskID }

// PushBranch is the branch an issue's task's commits are pushed to.
func PushBranch(taskID string) string { return "sandstep/" + taskID }

// repoTask reports whether t is an issue's task this deployment acts on
// as the App: its clone, push and pull request.
func (s *Service) repoTask(t *sandstep.Task) bool {
	return s.repoAccess != nil && issueTaskOf(t) && t.Metadata.InstallationID != ""
}

// issueTaskOf reports whether t was started by its repository's issue:
// owned by the repository's user, which no caller may claim. Metadata
// alone is what any caller may write.
func issueTaskOf(t *sandstep.Task) bool {
	_, _, ok := sandstep.IssueOf(t)
	return ok
}

func installationOf(t *sandstep.Task) int64 {
	id, _ := strconv.ParseInt(t.Metadata.InstallationID, 10, 64)
	return id
}

// credentialFile is a token in the format a git credential helper answers.
func credentialFile(path string, tok RepoToken) UploadFile {
	return UploadFile{Path: path, Content: []byte("username=x-access-token\npassword=" + tok.Value + "\n")}
}

// credentialHelper is a git credential.helper that answers the file at
// path (an environment variable holding it): the token never appears in
// a command string or a git config file.
func credentialHelper(pathVar string) string {
	return `!f() { test "$1" = get && cat "$` + pathVar + `"; }; f`
}

// gitStepTimeout bounds each of sandstep's own git runs in an issue's
// sandbox: the stage (the agent's commits copied out) and the push.
const gitStepTimeout = 5 * time.Minute

// What a step must keep after waiting out GitHub's rate limit: the call
// asked again and what follows it in the step.
const (
	githubWaitFloor = 30 * time.Second                   // the call, and a write or two
	cloneWaitFloor  = 3 * time.Minute                    // the sandbox's start and the clone
	pushWaitFloor   = gitStepTimeout + githubWaitFloor*2 // the push and the pull request
)

// githubWaits bounds how often one call waits GitHub's rate limit out
// before leaving the refusal to the state machine, and maxGitHubWait one
// wait (a primary limit's reset may be most of an hour away).
const (
	githubWaits   = 3
	maxGitHubWait = 5 * time.Minute
)

// withGitHubWaits runs call, and runs it again once the wait GitHub named
// has passed when it refused it (a transient error with a RetryAfter:
// its rate limits, or a Retry-After on a 5xx), while ctx's deadline
// leaves floor after the wait. The state machine's own retries come
// seconds apart and give up within about three minutes; a secondary limit
// asks for a minute at least, and asking sooner only prolongs it. Only
// the state machine's steps call it, whose invocations have the time.
func (s *Service) withGitHubWaits(ctx context.Context, floor time.Duration, call func() error) error {
	for i := 0; ; i++ {
		err := call()
		wait := sandstep.ErrorRetryAfter(err)
		if err == nil || sandstep.ErrorCode(err) != sandstep.ETRANSIENT || wait <= 0 || wait > maxGitHubWait || i == githubWaits {
			return err
		}
		// A spread, so the tasks GitHub refused at once do not all ask
		// again at once.
		wait += rand.N(wait/10 + 1)
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait+floor {
			return err
		}
		metrics.Add(ctx, metrics.GitHubRateLimitWaits, metrics.Count, 1)
		s.opts.Logger.InfoContext(ctx, "waiting out GitHub's rate limit", "wait", wait.String(), "err", err)
		if !pause.For(ctx, wait) {
			return err
		}
	}
}

// readAccess mints the agent's read-only token: the clone's credential,
// and a file the agent's own git reads through a credential helper.
func (s *Service) readAccess(ctx context.Context, t *sandstep.Task) (RepoToken, error) {
	tok, err := s.repoAccess.ReadToken(ctx, installationOf(t), t.Metadata.Repo)
	if err != nil {
		return RepoToken{}, fmt.Errorf("mint the read-only token of %s: %w", t.Metadata.Repo, err)
	}
	return tok, nil
}

// agentGitEnv is what the agent's command gets so its git fetches with
// the read-only token: a credential helper reading the refreshed file.
func agentGitEnv(t *sandstep.Task, env map[string]string) map[string]string {
	out := make(map[string]string, len(env)+4)
	for k, v := range env {
		out[k] = v
	}
	out["GIT_CONFIG_COUNT"] = "1"
	out["GIT_CONFIG_KEY_0"] = "credential.helper"
	out["GIT_CONFIG_VALUE_0"] = credentialHelper("SANDSTEP_GITHUB_CREDENTIAL")
	k, v, _ := strings.Cut(taskMark(t.ID), "=")
	out[k] = v
	return out
}

// refreshReadToken replaces the agent's token when it is about to expire,
// so a task of hours can still fetch. A failure is left to a later look
// (tokenWait; GitHub's rate limit is not waited out here: the watch would
// notice the command's end that much later). A token GitHub will not mint
// again (the App uninstalled, the repository taken from it) is no longer
// asked for: the agent keeps the one it has until it expires.
func (s *Service) refreshReadToken(ctx context.Context, t *sandstep.Task, sb *sandstep.Sandbox) {
	if !s.repoTask(t) || t.TokenExpiresAt == nil || t.TokenExpiresAt.Sub(s.opts.Now()) > refreshAhead {
		return
	}
	tok, err := s.readAccess(ctx, t)
	switch sandstep.ErrorCode(err) {
	case "":
	case sandstep.ENOTFOUND, sandstep.EINVALID:
		// Forbidden is not here: an installation suspended for a while
		// answers so, and the backoff bounds what asking again costs.
		s.opts.Logger.WarnContext(ctx, "the agent's GitHub token can no longer be refreshed; it is kept until it expires", "taskId", t.ID, "expires", t.TokenExpiresAt, "err", err)
		if _, err := s.tasks.TransitionTask(ctx, t.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
			func(r *sandstep.Task) { r.TokenExpiresAt = nil }); err != nil {
			s.opts.Logger.WarnContext(ctx, "the agent's token refresh was not stopped", "taskId", t.ID, "err", err)
			return
		}
		t.TokenExpiresAt = nil
		return
	default:
		s.opts.Logger.WarnContext(ctx, "the agent's GitHub token was not refreshed", "taskId", t.ID, "err", err)
		return
	}
	if err := s.provider.Upload(ctx, sb.DaytonaID, []UploadFile{credentialFile(readCredential, tok)}); err != nil {
		// Minted for nothing: ended now, not left live for its hour (a
		// refresh that keeps failing would leave one a look).
		s.revokeToken(ctx, t, tok.Value, "an unused token of the agent's")
		s.opts.Logger.WarnContext(ctx, "the agent's GitHub token was not refreshed", "taskId", t.ID, "err", err)
		return
	}
	if _, err := s.tasks.TransitionTask(ctx, t.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
		func(r *sandstep.Task) { r.TokenExpiresAt = &tok.ExpiresAt }); err != nil {
		if sandstep.ErrorCode(err) == sandstep.ECONFLICT {
			// The task ended as the token was uploaded: its clean-up
			// (revokeAgentToken, a kept sandbox's) may have run before
			// the upload, and nobody would revoke this one.
			s.revokeToken(ctx, t, tok.Value, "a token of the agent's uploaded as its task ended")
			return
		}
		s.opts.Logger.WarnContext(ctx, "the agent's refreshed GitHub token was not recorded; it is refreshed again", "taskId", t.ID, "err", err)
		return
	}
	t.TokenExpiresAt = &tok.ExpiresAt
}

// agentTokenTimeout bounds the take of the agent's token out of a kept
// sandbox: one short command, within the clean-up's time.
const agentTokenTimeout = 10 * time.Second

// takeAgentToken prints the push's credential file and the agent's (their
// start: the agent could have made them anything), each followed by
// tokenFileEnd, and removes them. The push's is there only when the
// Collect that handed it over died before its push removed it and its
// deferred revoke ran (the step asked again may not have pushed): a
// contents: write token. Only a regular file is read: the agent can write
// either path, and a FIFO at the first would hold the command up before
// it took the second.
const takeAgentToken = `for c in "$PWD/` + pushCredential + `" "$PWD/` + readCredential + `"; do ` +
	`[ -f "$c" ] && head -c 4096 "$c" 2>/dev/null; printf '\n` + tokenFileEnd + `\n'; rm -f "$c"; done`

// tokenFileEnd ends each file takeAgentToken prints.
const tokenFileEnd = "sandstep-token-file-end"

// revokeAgentToken takes the agent's token out of the sandbox sb of t, an
// issue's task that has ended, kept or about to be deleted: its file is
// removed and the token it held revoked, so that neither whoever uses a
// kept sandbox next, nor what the agent left running there, nor whoever
// the agent copied it to holds a live token for the rest of its hour.
// The token is not in the record (only its expiry): the file is where it
// is. A failure is logged; the token then expires within the hour.
func (s *Service) revokeAgentToken(ctx context.Context, t *sandstep.Task, sb *sandstep.Sandbox) {
	if !s.repoTask(t) {
		return
	}
	// Bounded by its Timeout, not by ctx: a command that runs it out (the
	// agent made the file a FIFO) has its session ended by the provider
	// within ctx's deadline, which must outlive it.
	res, err := s.provider.Exec(ctx, sb.DaytonaID, Command{Line: takeAgentToken, Timeout: agentTokenTimeout, NoStart: true})
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "the agent's GitHub token was not taken out of its sandbox; it expires within the hour", "taskId", t.ID, "sandboxId", sb.ID, "err", err)
		return
	}
	if res.ExitCode != 0 {
		s.opts.Logger.WarnContext(ctx, "the agent's credential file was not removed from its sandbox", "taskId", t.ID, "sandboxId", sb.ID, "exitCode", res.ExitCode)
	}
	var held []string
	// Two files: more ends are the agent's writing, whose tokens are not
	// ours to revoke on its word.
	files := strings.SplitAfterN(res.Stdout, tokenFileEnd+"\n", 3)
	for _, file := range files[:min(len(files), 2)] {
		// Taken already (a clean-up asked again), or never written: none.
		if tok := heldToken(file); tok != "" && !slices.Contains(held, tok) {
			held = append(held, tok)
		}
	}
	for _, tok := range held {
		s.revokeToken(ctx, t, tok, "the agent's GitHub token")
	}
}

// heldToken is the password of a credential file (credentialFile's
// format), "" when it holds none a token could be: the agent could have
// written anything there.
func heldToken(file string) string {
	for line := range strings.Lines(file) {
		v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "password=")
		if !ok || v == "" || len(v) > 1024 {
			continue
		}
		if strings.IndexFunc(v, func(r rune) bool { return r <= ' ' || r > '~' }) < 0 {
			return v
		}
	}
	return ""
}

// tokenWait bounds a watch's wait so the agent's token is refreshed in
// time. Once the refresh is due and the token still not replaced (a
// refresh failed), the next try comes later and later (half the time it
// has been due, refreshRetry at least), up to the watch's own wait: a
// refresh GitHub keeps refusing must not make the watch look every
// minute for the rest of the task.
func tokenWait(t *sandstep.Task, now time.Time, wait time.Duration) time.Duration {
	if t.TokenExpiresAt == nil {
		return wait
	}
	due := t.TokenExpiresAt.Add(-refreshAhead)
	if now.Before(due) {
		return min(wait, max(due.Sub(now), refreshRetry))
	}
	return min(wait, max(now.Sub(due)/2, refreshRetry))
}

// pushOutcome is what the push step found.
const (
	pushedPrefix  = "sandstep-push: pushed "
	nothingPushed = "sandstep-push: nothing"
)

// openPullRequest pushes the agent's commits to PushBranch and opens the
// pull request, once the agent's command has ended and every process it
// started is gone. The push token enters the sandbox for that one push, in
// a repository sandstep made (the agent's hooks and configuration are not
// read with it), and is revoked after. It answers the pull request's URL,
// "" when the agent committed nothing.
func (s *Service) openPullRequest(ctx context.Context, t *sandstep.Task, spec *TaskInput, sb *sandstep.Sandbox) (string, error) {
	g := spec.Sandbox.Git
	if g == nil || g.URL == "" || g.Branch == "" {
		return "", sandstep.Errorf(sandstep.EINTERNAL, "task %s names no repository and default branch to push to", t.ID)
	}
	// 1. The agent's processes are killed and its commits copied out, with
	// no token in the sandbox.
	res, err := s.provider.Exec(ctx, sb.DaytonaID, Command{Line: stageLine(t.ID, clonePath(g), g.Branch), Timeout: gitStepTimeout})
	if err != nil {
		return "", fmt.Errorf("copy the agent's commits: %w", err)
	}
	stdout := res.Stdout
	// The last end line is the stage's: the file before it is the
	// agent's to write, end lines too.
	if i := strings.LastIndex(stdout, tokenFileEnd+"\n"); i >= 0 {
		// A dead Collect's push token: in no file once this step's is
		// uploaded, so none but this step can end it.
		if tok := heldToken(stdout[:i]); tok != "" {
			s.revokeToken(ctx, t, tok, "a push token a Collect that died left")
		}
		stdout = stdout[i+len(tokenFileEnd)+1:]
	}
	out := strings.TrimSpace(stdout)
	if res.ExitCode != 0 || !strings.HasPrefix(out, pushedPrefix) && out != nothingPushed {
		return "", sandstep.Errorf(sandstep.EINVALID, "the agent's commits could not be read (exit %d): %s", res.ExitCode,
			s.quotedStderr(ctx, t, spec, res.Stderr))
	}
	if out == nothingPushed {
		return "", nil
	}
	// 2. The push, with a token only it holds.
	if err := s.push(ctx, t, spec, sb); err != nil {
		return "", err
	}
	// 3. The pull request, on the App's own token: the push's is revoked.
	inst, repo := installationOf(t), t.Metadata.Repo
	title, body := pullText(t, spec)
	var url string
	err = s.withGitHubWaits(ctx, githubWaitFloor, func() (err error) {
		url, err = s.repoAccess.OpenPullRequest(ctx, inst, repo, PushBranch(t.ID), g.Branch, title, body)
		return err
	})
	switch sandstep.ErrorCode(err) {
	case "":
		return url, nil
	case sandstep.EINVALID, sandstep.ENOTFOUND, sandstep.EUNAUTHENTICATED:
		// Refused, which asking again does not change: forbidden too (the
		// App lacks pull_requests: write, or the repository forbids it),
		// not a sandbox not found as its code's name at the edge says.
		// The branch is there for a maintainer to open it by hand.
		return "", sandstep.Wrap(err, sandstep.EINVALID, "%s was pushed, but its pull request was not opened: %s",
			PushBranch(t.ID), sandstep.ErrorMessage(err))
	}
	return "", fmt.Errorf("open the pull request: %w", err)
}

// stageDir is the repository sandstep pushes from.
const stageDir = ReservedDir + "/push.git"

// startHead keeps the commit the agent's clone had when its command first
// started: a HEAD there (or behind it) is nothing committed, whatever the
// agent's fetches did to origin/<branch> (a shallow fetch cuts the walk to
// it, a force-push takes the clone's commit off it).
const startHead = taskDir + "/start-head"

// startHeadLine records the clone's commit in startHead, once: a start
// asked again runs it after the agent may have committed. A clone with no
// commit records nothing, and stays so.
func startHeadLine(repo string) string {
	return "[ -e " + startHead + " ] || git -C " + shellQuote("./"+repo) + " rev-parse --verify -q 'HEAD^{commit}' >" + startHead + " 2>/dev/null\n"
}

// ownGitEnv is the environment of sandstep's own git runs on stageDir (the
// copy and the push): no global or system configuration, which the agent
// could have written.
const ownGitEnv = `HOME="$PWD/` + stageDir + `" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null`

// stageLine kills what is left of the task's processes (those carrying
// its mark, again until none is left), then copies the agent's HEAD into
// a bare repository sandstep made, when it has a commit the clone's
// origin/<branch> does not.
func stageLine(taskID, repo, branch string) string {
	mark := shellQuote(taskMark(taskID))
	kill := `sweep() { n=0; for d in /proc/[0-9]*; do p=${d#/proc/}; [ "$p" = "$$" ] && continue; ` +
		`if { tr '\0' '\n' <"$d/environ"; } 2>/dev/null | grep -qxF ` + mark + `; then kill -9 "$p" 2>/dev/null; n=$((n+1)); fi; done; }
killall_marked() { i=0; while [ $i -lt 20 ]; do sweep; [ $n -eq 0 ] && return 0; i=$((i+1)); sleep 0.2; done; }
`
	// Every git run on the agent's repository carries the mark: what its
	// configuration may start is killed with the rest.
	git := taskMark(taskID) + " git -C " + shellQuote("./"+repo)
	var b strings.Builder
	b.WriteString(kill)
	b.WriteString("killall_marked\n")
	// A push credential here is a Collect's that died before its push
	// removed it: printed (a regular file's start, ended by tokenFileEnd)
	// for revoking. It stays until this step's own overwrites it: an
	// answer lost after this line ran (the step is asked again) would
	// otherwise leave the token in no file, for no step to revoke.
	b.WriteString(`c="$PWD/` + pushCredential + `"; if [ -f "$c" ]; then head -c 4096 "$c" 2>/dev/null; printf '\n` + tokenFileEnd + `\n'; fi` + "\n")
	// sandstep's own git runs read no configuration the agent could write
	// (its ~/.gitconfig may name hooks that would edit the bare
	// repository's config while it is made), and no templates.
	b.WriteString(`own() { ` + ownGitEnv + ` "$@"; }` + "\n")
	b.WriteString("rm -rf " + stageDir + " && own git init -q --bare --template= " + stageDir + " || exit 1\n")
	b.WriteString("head=$(" + git + " rev-parse --verify -q 'HEAD^{commit}') || { echo 'no commit in the repository' >&2; exit 1; }\n")
	b.WriteString("base=$(" + git + " rev-parse --verify -q " + shellQuote("refs/remotes/origin/"+branch+"^{commit}") + ")\n")
	// The agent can write the file: only an object name is taken from it.
	b.WriteString("start=$(cat " + startHead + " 2>/dev/null); case $start in *[!0-9a-f]*) start= ;; esac\n")
	// Nothing committed is HEAD already on the base, not HEAD equal to it
	// (the agent's own fetch or pull moves the base), or HEAD where the
	// clone started. No base, or no answer, pushes: the commits are not
	// lost.
	onto := func(ref string) string {
		return `{ [ -n "$` + ref + `" ] && ` + git + ` merge-base --is-ancestor "$head" "$` + ref + `"; }`
	}
	b.WriteString(`if ` + onto("start") + ` || ` + onto("base") + `; then killall_marked; echo '` + nothingPushed + `'; exit 0; fi` + "\n")
	// --update-shallow: a HEAD on history the agent fetched shallowly
	// (--depth) is otherwise dropped with a warning, and the fetch exits 0.
	b.WriteString(taskMark(taskID) + " own git -C " + stageDir + " -c core.hooksPath=/dev/null fetch -q --no-tags --update-shallow \"$PWD\"/" + shellQuote(repo) + " \"+$head:refs/heads/push\" || exit 1\n")
	b.WriteString("killall_marked\n")
	b.WriteString(`echo "` + pushedPrefix + `$head"`)
	return b.String()
}

// push pushes the staged commits to the task's branch with a token minted
// for it, revoked as soon as the push is done (on a context the caller's
// cancellation does not stop).
func (s *Service) push(ctx context.Context, t *sandstep.Task, spec *TaskInput, sb *sandstep.Sandbox) error {
	inst, repo, g := installationOf(t), t.Metadata.Repo, spec.Sandbox.Git
	var tok RepoToken
	err := s.withGitHubWaits(ctx, pushWaitFloor, func() (err error) {
		tok, err = s.repoAccess.PushToken(ctx, inst, repo)
		return err
	})
	if sandstep.ErrorCode(err) == sandstep.EUNAUTHENTICATED {
		// Forbidden (the installation suspended): refused, as a pull
		// request forbidden is, not a sandbox not found as its code's
		// name at the edge says.
		return sandstep.Wrap(err, sandstep.EINVALID, "mint the push token of %s: %s", repo, sandstep.ErrorMessage(err))
	}
	if err != nil {
		return fmt.Errorf("mint the push token of %s: %w", repo, err)
	}
	defer s.revokeToken(ctx, t, tok.Value, "the push token")
	var res *ExecResult
	for wait, again := newTokenWait, 0; ; wait, again = wait*2, again+1 {
		// The push removes its credential file whatever happens: each try
		// is handed it again.
		if err := s.provider.Upload(ctx, sb.DaytonaID, []UploadFile{credentialFile(pushCredential, tok)}); err != nil {
			return fmt.Errorf("hand the push its token: %w", err)
		}
		res, err = s.provider.Exec(ctx, sb.DaytonaID, Command{Line: pushLine(g.URL, PushBranch(t.ID)), Timeout: gitStepTimeout})
		if err != nil {
			return fmt.Errorf("push the agent's commits: %w", err)
		}
		if res.ExitCode == 0 {
			return nil
		}
		// A token GitHub minted a moment ago may be refused for a moment
		// (401, 403 while its permissions replicate, or a private
		// repository not found), as githubapp's calls and the clone are:
		// the same push goes again with it after 1 s and 2 s.
		// A refusal of a settled token is GitHub's word; one just before
		// it settled goes again too, when it has.
		if again == 2 || !pushTokenRefused(res.Stderr) || !s.opts.Now().Before(tok.Settled) {
			break
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait+pushWaitFloor || !pause.For(ctx, wait) {
			break
		}
	}
	stderr := strings.ReplaceAll(strings.TrimSpace(res.Stderr), tok.Value, "[REDACTED]")
	refused := pushRefused(stderr)
	stderr = s.quotedStderr(ctx, t, spec, stderr)
	if !refused {
		// GitHub unreachable or failing: the state machine asks again
		// (a push of the same commits to the same branch is no change).
		return sandstep.Errorf(sandstep.ETRANSIENT, "the push to %s did not reach GitHub: %s", PushBranch(t.ID), stderr)
	}
	return sandstep.Errorf(sandstep.EINVALID, "the push to %s was refused: %s", PushBranch(t.ID), stderr)
}

// revokeTimeout bounds a token's revoke (revokeToken).
const revokeTimeout = 10 * time.Second

// newTokenWait is the first pause before a clone or a push that a token
// not yet settled (RepoToken.Settled) was refused goes again.
const newTokenWait = time.Second

// pushTokenRefused says a failed push's stderr is GitHub refusing its
// token: a 401, a 403, or a 404 (a private repository the token is not
// yet known to reach is one it cannot see, as gitClone knows).
func pushTokenRefused(stderr string) bool {
	stderr = strings.ToLower(stderr)
	return strings.Contains(stderr, "returned error: 403") || strings.Contains(stderr, "returned error: 401") ||
		strings.Contains(stderr, "authentication failed") ||
		strings.Contains(stderr, "repository not found") || strings.Contains(stderr, "returned error: 404")
}

// pushRefused says whether a failed push's stderr, all of it (GitHub's
// explanation comes before git's verdict), is GitHub's refusal (a
// rejected ref, a rule, no permission), which asking again does not
// change, rather than a failure to reach it.
func pushRefused(stderr string) bool {
	stderr = strings.ToLower(stderr)
	// A ref that cannot exist beside another (a branch named sandstep
	// holds no sandstep/<taskId>): git says "failed to update ref" as it
	// does for its own failures, but asking again never changes it.
	if strings.Contains(stderr, "exists; cannot create") {
		return true
	}
	// A ref GitHub rejected for its own failure is not refused.
	for _, passing := range []string{"(internal server error)", "(cannot lock ref", "(failed to update ref)", "(unpacker error)"} {
		if strings.Contains(stderr, passing) {
			return false
		}
	}
	// GitHub's HTTP refusals: 400, 403, 404 (git says "repository not
	// found"), 422. Not 408 or 429, which pass, nor 401: a token minted a
	// moment ago may not be known everywhere yet, and the step asked
	// again mints another.
	for _, sign := range []string{"[rejected]", "[remote rejected]", "returned error: 400", "returned error: 403",
		"returned error: 404", "repository not found", "returned error: 422", "permission to", "protected branch"} {
		if strings.Contains(stderr, sign) {
			return true
		}
	}
	return false
}

// stageConfig is the whole configuration of the bare repository sandstep
// pushes from, written again just before the push: whatever wrote to it
// meanwhile (url rewrites, transports) is gone.
const stageConfig = "[core]\n\trepositoryformatversion = 0\n\tbare = true\n"

// pushLine pushes the staged commits to branch of rawURL with the push
// credential, reading no configuration the agent could have written, over
// the URL's own transport only, and removes the credential whatever
// happens.
func pushLine(rawURL, branch string) string {
	scheme := "https"
	if u, err := url.Parse(rawURL); err == nil && u.Scheme != "" {
		scheme = u.Scheme // validated: https, http, ssh, git or file
	}
	var b strings.Builder
	b.WriteString(`trap 'rm -f "$c"' EXIT` + "\n")
	b.WriteString(`c="$PWD/` + pushCredential + `"` + "\n")
	b.WriteString("printf '%s' " + shellQuote(stageConfig) + " > " + stageDir + "/config || exit 1\n")
	b.WriteString(`export SANDSTEP_PUSH_CREDENTIAL="$c" ` + ownGitEnv + ` GIT_TERMINAL_PROMPT=0` + "\n")
	b.WriteString("git -C " + stageDir + " -c core.hooksPath=/dev/null -c protocol.allow=never -c " + shellQuote("protocol."+scheme+".allow=always") +
		" -c credential.helper= -c " + shellQuote("credential.helper="+credentialHelper("SANDSTEP_PUSH_CREDENTIAL")) +
		" push -q --no-verify -- " + shellQuote(rawURL) + " " + shellQuote("refs/heads/push:refs/heads/"+branch))
	return b.String()
}

// pullText is the pull request's title and body, from the issue the task
// received (its title is anyone's text: the API carries it as data).
func pullText(t *sandstep.Task, spec *TaskInput) (title, body string) {
	var issue struct {
		Title string `json:"title"`
	}
	for _, f := range spec.Sandbox.Files {
		if f.Path == IssueFile {
			if raw, err := base64.StdEncoding.DecodeString(f.ContentBase64); err == nil {
				_ = json.Unmarshal(raw, &issue)
			}
		}
	}
	title = "sandstep: #" + t.Metadata.IssueID
	if s := strings.TrimSpace(issue.Title); s != "" {
		title += " " + sandstep.Clip(s, 200)
	}
	body = fmt.Sprintf("The agent's work on #%s, by sandstep task `%s`.\n", t.Metadata.IssueID, t.ID)
	return title, body
}
