package service

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// runSh runs line under /bin/sh -c in dir with a fixed environment and
// returns its stdout and exit code.
func runSh(t testing.TB, dir, line string, env []string) ([]byte, int) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", line)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + dir}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run: %v", err)
	}
	return out.Bytes(), code
}

// FuzzCommandLineRunsAsBareShell: the wrapper runs exactly the caller's command
// (fuzzed text inside a here-document, echoed back) with exactly the
// caller's env value (printed back) in the caller's cwd, as a bare
// `/bin/sh -c command` run with that env and in that directory does.
func FuzzCommandLineRunsAsBareShell(f *testing.F) {
	for _, s := range []struct{ body, name, value, cwd string }{
		{"hello", "FOO", "bar", ""},
		{"it's \"quoted\" $HOME `id` \\", "X", "a'b\"c$d`e\\f\n", "sub dir"},
		{"'; echo pwned; '", "Y", "'\\''", "-x"},
		{"\xff\xfe", "Z", "\xff", "a'b"},
		{"EOF", "LONG", strings.Repeat("'", 5000), "./x"},
	} {
		f.Add(s.body, s.name, s.value, s.cwd)
	}
	f.Fuzz(func(t *testing.T, body, name, value, cwd string) {
		const delim = "SANDSTEP_HUNT_EOF"
		if strings.Contains(body, delim) || strings.ContainsRune(body, 0) {
			t.Skip()
		}
		if !utf8.ValidString(body) || !utf8.ValidString(value) || !utf8.ValidString(cwd) || !utf8.ValidString(name) {
			t.Skip() // refused at the edge
		}
		env := map[string]string{name: value}
		if err := validateEnv("env", env); err != nil {
			return
		}
		if err := validateCwd(cwd); err != nil {
			return
		}
		if filepath.IsAbs(cwd) || strings.Contains(cwd, "/") || cwd == "." || cwd == ".." || cwd == "" || len(cwd) > 200 {
			cwd = "d"
		}
		switch name { // sh's own variables, which the shell itself sets
		case "PWD", "OLDPWD", "PPID", "IFS", "OPTIND", "LINENO", "PATH", "HOME", "ENV", "PS1", "PS2", "PS4", "CDPATH":
			return
		}
		root := t.TempDir()
		if err := os.Mkdir(filepath.Join(root, cwd), 0o755); err != nil {
			return
		}
		command := "cat <<'" + delim + "'\n" + body + "\n" + delim + "\nprintf '[%s]' \"$" + name + "\"; pwd"
		for _, nonce := range []string{"", "n0nce"} {
			line := commandLine(command, cwd, env, nonce)
			if strings.ContainsRune(line, 0) {
				t.Fatalf("line holds a NUL byte")
			}
			got, code := runSh(t, root, line, nil)
			want, wcode := runSh(t, filepath.Join(root, cwd), command, []string{name + "=" + value})
			if code != wcode || !bytes.Equal(got, want) {
				t.Fatalf("wrapper ran %q (exit %d), bare ran %q (exit %d)\nline: %q", got, code, want, wcode, line)
			}
		}
	})
}

// FuzzSecretsFileSourcesExactValues: sourcing the secrets file as the
// wrapper does sets every name to exactly its resolved value (a value
// checkEnvValue refuses, one with a NUL byte, is never written: see
// TestSecretEnvNULValueRefused).
func FuzzSecretsFileSourcesExactValues(f *testing.F) {
	f.Add("TOKEN", "s3cr3t", "B", "x")
	f.Add("T", "a'b\n\"c", "U", "$(id)`id`")
	f.Add("T", "\\", "U", "'")
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string) {
		vals := map[string]string{n1: v1, n2: v2}
		for n, v := range vals {
			if envNameRE.check("secretEnv", n, envName) != nil || v == "" || checkEnvValue("secretEnv."+n, v) != nil {
				t.Skip()
			}
			switch n {
			case "PWD", "OLDPWD", "PPID", "IFS", "OPTIND", "LINENO", "PATH", "HOME", "ENV", "PS1", "PS2", "PS4", "CDPATH":
				t.Skip()
			}
		}
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, ReservedDir), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, secretsFile), secretsFileContent(vals), 0o600); err != nil {
			t.Fatal(err)
		}
		names := slices.Sorted(func(yield func(string) bool) {
			for n := range vals {
				if !yield(n) {
					return
				}
			}
		})
		cmd := ""
		for _, n := range names {
			cmd += "printf '%s\\0' \"$" + n + "\";"
		}
		line := commandLine(cmd, "", nil, "")
		got, _ := runSh(t, root, line, nil)
		var want []byte
		for _, n := range names {
			want = append(want, vals[n]...)
			want = append(want, 0)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("sourced %q, want %q\nfile: %q", got, want, secretsFileContent(vals))
		}
	})
}
