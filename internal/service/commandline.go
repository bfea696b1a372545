package service

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// secretsFile is where a sandbox's secret environment lives, relative to
// its working directory: readable only by the sandbox user, ignored by git,
// sourced by every command's wrapper. Secret values never appear in a
// command string (Daytona stores those) nor in create-time env (readable
// through the Daytona API).
const secretsFile = ReservedDir + "/secrets.env"

// shellQuote quotes s for POSIX sh as one word.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// exportLine is the line of a command line that sets env's name to v.
func exportLine(name, v string) string { return "export " + name + "=" + shellQuote(v) + "\n" }

// sentEnvBytes is what env's names and values cost as Daytona is sent
// them: exported, shell-quoted, on a command line encoded as a JSON
// string (a quote there is five bytes, a control character six).
func sentEnvBytes(env map[string]string) int {
	n := 0
	for name, v := range env {
		line, _ := json.Marshal(exportLine(name, v))
		n += len(line) - len(`""`)
	}
	return n
}

// secretsFileContent renders NAME=value pairs as a file for `set -a; . file`.
func secretsFileContent(values map[string]string) []byte {
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(values)) {
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(shellQuote(values[n]))
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// commandLine wraps a caller's command: in a subshell (so nothing leaks into
// a provider session), load the secrets file if there is one, change to cwd,
// export env, and run the command with /bin/sh -c as the contract says.
//
// A cwd the wrapper cannot enter ends it with exit code 126 and
// cwdMissing(nonce) on stderr, before the command runs: the caller learns
// it from the one call that runs the command. nonce is fresh for each call
// (none for a task, which runs after its answer), so no command prints it
// by chance.
func commandLine(command, cwd string, env map[string]string, nonce string) string {
	var b strings.Builder
	b.WriteString("(\n")
	b.WriteString("if [ -r " + secretsFile + " ]; then set -a; . ./" + secretsFile + "; set +a; fi\n")
	if cwd != "" {
		if !strings.HasPrefix(cwd, "/") {
			// cd searches CDPATH (which the sandbox's env may set) for a
			// name not led by "." or "/", and prints where it went.
			cwd = "./" + cwd
		}
		b.WriteString("cd -- " + shellQuote(cwd) + " 2>/dev/null || { echo " + shellQuote(cwdMissing(nonce)) + " >&2; exit 126; }\n")
	}
	for _, n := range slices.Sorted(maps.Keys(env)) {
		b.WriteString(exportLine(n, env[n]))
	}
	b.WriteString("/bin/sh -c " + shellQuote(command) + "\n")
	b.WriteString(")")
	return b.String()
}

// execLine is the line an exec runs: the bare command under /bin/sh -c
// when there is nothing to set up (no secrets file, cwd or env), which
// saves the wrapper's subshell; else the wrapper.
func execLine(sb *sandstep.Sandbox, in ExecInput, nonce string) string {
	if sb.NoSecretsFile && in.Cwd == "" && len(in.Env) == 0 {
		return "/bin/sh -c " + shellQuote(in.Command)
	}
	return commandLine(in.Command, in.Cwd, in.Env, nonce)
}

// cwdMissing is the line the wrapper writes when it cannot enter cwd.
func cwdMissing(nonce string) string {
	line := "sandstep: cwd: no such directory in the sandbox"
	if nonce != "" {
		line += " [" + nonce + "]"
	}
	return line
}

// cwdWasMissing reports whether res is the wrapper's own exit for a cwd
// it could not enter, in the call with nonce.
func cwdWasMissing(res *ExecResult, nonce string) bool {
	return res.ExitCode == 126 && strings.Contains(res.Stderr, cwdMissing(nonce)+"\n")
}
