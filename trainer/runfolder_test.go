package trainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Oracle for these tests: the files each run folder holds before and after, written here.

// A new run on a folder that holds another run's files is refused before it writes anything,
// naming --resume and --force; the folder is left as it was.
func TestNewRunRefusesNonEmptyOut(t *testing.T) {
	c := smallGRPO(baseline(t), filepath.Join(t.TempDir(), "run"))
	c.Steps, c.EvalScenes = 1, 0
	os.MkdirAll(c.Out, 0o755)
	old := []byte(`{"from": "another run"}` + "\n")
	os.WriteFile(filepath.Join(c.Out, "config.json"), old, 0o644)
	err := trainWorld(c, false, solo(t))
	if err == nil || !strings.Contains(err.Error(), "--resume") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("a new run on a non-empty --out: %v; want a refusal naming --resume and --force", err)
	}
	if got, _ := os.ReadFile(filepath.Join(c.Out, "config.json")); string(got) != string(old) {
		t.Errorf("the other run's config.json was overwritten: %s", got)
	}
	if ents, _ := os.ReadDir(c.Out); len(ents) != 1 {
		t.Errorf("the refused run left files: %v", ents)
	}
}

// With force the folder's files move into a subfolder, whole, and the new run starts afresh.
func TestForceMovesEarlierFilesAside(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte("old\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, checkpointDir, CheckpointName(100)), 0o755)
	r, err := openRun(dir, true, map[string]int{"new": 1}, -1, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.close()
	aside, _ := filepath.Glob(filepath.Join(dir, "replaced-*"))
	if len(aside) != 1 {
		t.Fatalf("no single replaced-* folder: %v", aside)
	}
	if b, _ := os.ReadFile(filepath.Join(aside[0], "config.json")); string(b) != "old\n" {
		t.Errorf("the earlier config.json was not kept whole: %q", b)
	}
	if _, err := os.Stat(filepath.Join(aside[0], checkpointDir, CheckpointName(100))); err != nil {
		t.Errorf("the earlier checkpoint was not kept: %v", err)
	}
	if cks, _ := Checkpoints(dir); len(cks) != 0 {
		t.Errorf("the new run sees checkpoints it did not write: %v", cks)
	}
}

// A second run on a folder in use is refused naming the first's pid and host; the lock of a
// process that is gone is detected as stale and replaced; closing the run releases it.
func TestRunLock(t *testing.T) {
	dir := t.TempDir()
	first, err := openRun(dir, true, map[string]int{}, -1, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	_, err = openRun(dir, true, map[string]int{}, 0, false, nil)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) || !strings.Contains(err.Error(), host) {
		t.Fatalf("a second run on a folder in use: %v; want a refusal naming pid %d on %s", err, os.Getpid(), host)
	}
	first.close()
	if _, err := os.Stat(filepath.Join(dir, lockFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the lock outlived its run: %v", err)
	}

	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Skipf("no process to outlive: %v", err)
	}
	js, _ := json.Marshal(runLock{PID: gone.Process.Pid, Host: host, Started: "earlier"})
	os.WriteFile(filepath.Join(dir, lockFile), js, 0o644)
	again, err := openRun(dir, true, map[string]int{}, 0, false, nil)
	if err != nil {
		t.Fatalf("a stale lock (pid %d has exited) was not replaced: %v", gone.Process.Pid, err)
	}
	again.close()

	js, _ = json.Marshal(runLock{PID: os.Getpid(), Host: host + "-elsewhere", Started: "earlier"})
	os.WriteFile(filepath.Join(dir, lockFile), js, 0o644)
	if _, err := openRun(dir, true, map[string]int{}, 0, false, nil); err == nil || !strings.Contains(err.Error(), host+"-elsewhere") {
		t.Errorf("a lock held on another host: %v; want a refusal naming that host", err)
	}
}

// Pruning to --keep removes only checkpoints up to the one just written: a checkpoint of a
// later step came from elsewhere, and the newest of the run's own is never pruned.
func TestPruneKeepsOnlyOwnOrder(t *testing.T) {
	dir := t.TempDir()
	write := func(step int) string {
		tmp, err := beginCheckpoint(dir, step)
		if err != nil {
			t.Fatal(err)
		}
		final, err := finishCheckpoint(dir, tmp, State{Step: step}, 1)
		if err != nil {
			t.Fatal(err)
		}
		return final
	}
	foreign := write(100)
	mine := write(3)
	for _, p := range []string{foreign, mine} {
		if _, err := os.Stat(filepath.Join(p, stateFile)); err != nil {
			t.Errorf("%s was pruned: %v", filepath.Base(p), err)
		}
	}
	write(4)
	if _, err := os.Stat(mine); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("step 3 outlived --keep 1 after step 4: %v", err)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("step 100 (not this run's order) was pruned: %v", err)
	}
}
