package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runSplit runs the program with args and returns its stdout, stderr and exit status apart.
func runSplit(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TRAINER_TEST_MAIN=1")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// Help asked for goes to stdout with exit 0, as launch --help does, so `trainer --help | grep`
// finds it. Oracle: the streams of the child process.
func TestHelpGoesToStdout(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"train", "--help"}, {"sft", "-h"}, {"serve-reward", "--help"}} {
		out, errOut, code := runSplit(t, args...)
		if code != 0 || !strings.Contains(out, "usage: trainer") || errOut != "" {
			t.Errorf("trainer %v: exit %d, stdout %q, stderr %q; want the usage on stdout, exit 0", args, code, first(out), errOut)
		}
	}
	if out, errOut, code := runSplit(t, "train", "--steps", "x"); code != 2 || out != "" || !strings.Contains(errOut, "invalid argument") {
		t.Errorf("a flag mistake: exit %d, stdout %q, stderr %q; want exit 2 with the message on stderr", code, first(out), errOut)
	}
}

func first(s string) string { return strings.SplitN(s, "\n", 2)[0] }

// A config.json that cannot be parsed is reported as such, naming the file, not as a missing
// config.json. Oracle: the file written here.
func TestDamagedConfigIsNamed(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.json")
	os.WriteFile(file, []byte(`{"model_type": "llama",`), 0o644)
	for _, args := range [][]string{
		{"generate", "--policy", dir, "--prompt", "hi"},
		{"train", "--init", dir, "--out", filepath.Join(t.TempDir(), "run")},
	} {
		_, errOut, code := runSplit(t, args...)
		if code != 2 || !strings.Contains(errOut, file) || !strings.Contains(errOut, "cannot be parsed") || strings.Contains(errOut, "no config.json") {
			t.Errorf("trainer %v: exit %d, %q; want exit 2 saying %s cannot be parsed", args, code, errOut, file)
		}
	}
}
