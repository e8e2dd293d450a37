package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// Flags that would silently not apply are usage errors naming them: --resume with a setting the
// run records, sft --init without --unified, --reward-timeout 0s. A restarted worker's command
// line, equal to the run's settings, still resumes (TestRestartedWorkerResumes). Oracle: the
// flags given and the run's config.json.
func TestSilentFlagsAreErrors(t *testing.T) {
	ck := tinyCheckpoint(t)
	run := filepath.Join(t.TempDir(), "run")
	args := []string{"train", "--init", ck, "--out", run, "--batch", "2", "--group", "2", "--eval-scenes", "0",
		"--plot-every", "0", "--monitor-interval", "0", "--steps", "1"}
	if got, code := runProgram(t, args...); code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, got)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--resume", run, "--steps", "2", "--lr", "0.5"}, "--lr"},
		{[]string{"train", "--resume", run, "--batch", "4"}, "--batch"},
		{[]string{"train", "--resume", run, "--images", t.TempDir()}, "--images"},
		{[]string{"train", "--resume", run, "--init", run}, "--init"},
		{[]string{"sft", "--out", filepath.Join(t.TempDir(), "s"), "--init", ck}, "--init is for --unified model"},
		{[]string{"train", "--init", ck, "--out", filepath.Join(t.TempDir(), "r"), "--reward-timeout", "0s"}, "--reward-timeout 0s"},
	} {
		got, code := runProgram(t, c.args...)
		if code != 2 || !strings.Contains(got, c.want) {
			t.Errorf("trainer %v: exit %d, output %q; want exit 2 naming %q", c.args, code, got, c.want)
		}
	}
	if got, code := runProgram(t, "train", "--resume", run, "--steps", "2", "--batch", "2", "--threads", "1"); code != 0 {
		t.Errorf("--resume with the run's own --batch and a placement flag: exit %d\n%s", code, got)
	}
}
