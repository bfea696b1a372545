package daytonalocal

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// gitCredentialHelper answers git's credential requests from the
// environment, so credentials never appear in a URL, an argument or an
// error message.
const gitCredentialHelper = `!f() { test "$1" = get || return 0; echo "username=${DAYTONA_GIT_USERNAME}"; echo "password=${DAYTONA_GIT_PASSWORD}"; }; f`

var urlUserinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@`)

// redactURLs hides user:password@ in URLs.
func redactURLs(s string) string {
	return urlUserinfo.ReplaceAllString(s, "${1}***@")
}

// runGit runs git with the sandbox's environment in its own process group,
// killed if ctx ends, and returns its output (each stream bounded).
func (s *Server) runGit(ctx context.Context, sb *sandbox, extraEnv map[string]string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = sb.dir
	env := map[string]string{
		"GIT_TERMINAL_PROMPT": "0",
		"GIT_ASKPASS":         "",
		"SSH_ASKPASS":         "",
		"GIT_SSH_COMMAND":     "ssh -o BatchMode=yes",
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	cmd.Env = sb.environ(env)
	out := newCapture(64 << 10)
	pipes, err := startPiped(sb.procs, cmd, out.read)
	if err != nil {
		return "", err
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		killGroup(pgid)
		err = <-done
	}
	sb.procs.exited(pgid)
	pipes.drain(drainGrace, drainLimit)
	b, _, _ := out.result()
	return string(b), err
}

// classifyGitError maps git's output to a status and DaemonErrorCode.
func classifyGitError(out string) (int, string) {
	o := strings.ToLower(out)
	switch {
	case strings.Contains(o, "authentication failed"), strings.Contains(o, "could not read username"),
		strings.Contains(o, "could not read password"), strings.Contains(o, "terminal prompts disabled"),
		strings.Contains(o, "permission denied (publickey"):
		return http.StatusUnauthorized, codeGitAuthFailed
	case strings.Contains(o, "remote branch") && strings.Contains(o, "not found"):
		return http.StatusNotFound, codeGitBranchNotFound
	case strings.Contains(o, "repository not found"), strings.Contains(o, "does not appear to be a git repository"),
		strings.Contains(o, "does not exist"), strings.Contains(o, "not found"):
		return http.StatusNotFound, codeGitRepoNotFound
	case strings.Contains(o, "could not resolve host"), strings.Contains(o, "unable to access"),
		strings.Contains(o, "connection refused"), strings.Contains(o, "timed out"),
		strings.Contains(o, "early eof"):
		return http.StatusBadGateway, codeGitTransportFailed
	}
	return http.StatusBadRequest, codeBadRequest
}

// lastLines keeps the end of git's output for an error message.
func lastLines(out string, n int) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// handleGitClone clones with the local git binary: local paths and file://
// URLs work, as do http(s) and ssh if the host can reach them.
func (s *Server) handleGitClone(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	var req gitCloneRequest
	if !s.readJSON(w, r, &req, false) {
		return
	}
	if strings.TrimSpace(req.URL) == "" {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "url is required")
		return
	}
	if req.Depth < 0 {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "depth must not be negative")
		return
	}
	dst, err := sb.resolve(req.Path)
	if err != nil {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "path: %s", err.Error())
		return
	}
	args := []string{"-c", "protocol.ext.allow=never", "-c", "credential.helper="}
	env := map[string]string{}
	if req.Username != "" || req.Password != "" {
		args = append(args, "-c", "credential.helper="+gitCredentialHelper)
		env["DAYTONA_GIT_USERNAME"] = req.Username
		env["DAYTONA_GIT_PASSWORD"] = req.Password
	}
	if req.InsecureSkipTLS {
		args = append(args, "-c", "http.sslVerify=false")
	}
	args = append(args, "clone", "--quiet")
	if req.Branch != "" {
		args = append(args, "--branch", req.Branch)
	}
	if req.Depth > 0 {
		args = append(args, "--depth", strconv.Itoa(req.Depth))
	}
	args = append(args, "--", req.URL, dst)
	out, err := s.runGit(r.Context(), sb, env, args...)
	if err == nil && req.CommitID != "" {
		out, err = s.runGit(r.Context(), sb, nil, "-C", dst, "checkout", "--quiet", "--detach", req.CommitID, "--")
		if err != nil && !strings.Contains(strings.ToLower(out), "not found") {
			out = "commit " + req.CommitID + " not found: " + out
		}
	}
	if errors.Is(err, errNotAccepting) {
		s.toolboxError(w, r, http.StatusBadRequest, codeBadRequest, sourceProxy, "sandbox %s is not started", sb.id)
		return
	}
	var execErr *exec.Error
	if errors.As(err, &execErr) {
		s.daemonError(w, r, http.StatusInternalServerError, codeInternal, "git is not available: %v", execErr.Err)
		return
	}
	if err != nil {
		if r.Context().Err() != nil {
			return
		}
		status, code := classifyGitError(out)
		msg := redactURLs(lastLines(out, 3))
		s.log.Info("daytonalocal git clone failed", "sandbox", sb.id, "status", status)
		s.daemonError(w, r, status, code, "git clone failed: %s", msg)
		return
	}
	if _, err := os.Stat(dst); err != nil {
		s.daemonError(w, r, http.StatusInternalServerError, codeInternal, "git clone produced no directory")
		return
	}
	w.WriteHeader(http.StatusOK)
}
