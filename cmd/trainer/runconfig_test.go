package main

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/trainer"
)

// tbEvent is what internal/tfevent/testdata/read_events.py prints of one event.
type tbEvent struct {
	Step        int64    `json:"step"`
	FileVersion string   `json:"file_version"`
	Scalars     [][2]any `json:"scalars"` // tag, bits of the float32 value
	SessionLog  int      `json:"session_log"`
}

// readTensorBoard reads the event files of dir, oldest first, with the Python reader.
func readTensorBoard(t *testing.T, dir string) [][]tbEvent {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "events.out.tfevents.*"))
	sort.Strings(files)
	var out [][]tbEvent
	for _, f := range files {
		js, err := exec.Command("/usr/bin/python3", "../../internal/tfevent/testdata/read_events.py", f).Output()
		if err != nil {
			t.Fatalf("read_events.py %s: %v", f, err)
		}
		var evs []tbEvent
		if err := json.Unmarshal(js, &evs); err != nil {
			t.Fatal(err)
		}
		out = append(out, evs)
	}
	return out
}

// checkScalars checks that events (after the file version, and a restart when resumed) hold
// recs, step for step and metric for metric.
func checkScalars(t *testing.T, events []tbEvent, recs []trainer.Record) {
	t.Helper()
	var steps []tbEvent
	for _, e := range events {
		if e.FileVersion == "" && e.SessionLog == 0 {
			steps = append(steps, e)
		}
	}
	if len(steps) != len(recs) {
		t.Fatalf("%d steps of scalars, metrics.jsonl has %d", len(steps), len(recs))
	}
	for i, e := range steps {
		r := recs[i]
		if e.Step != int64(r["step"]) {
			t.Errorf("event %d: step %d, metrics.jsonl step %v", i, e.Step, r["step"])
		}
		if len(e.Scalars) != len(r)-1 {
			t.Errorf("step %d: %d scalars, metrics.jsonl has %d metrics", e.Step, len(e.Scalars), len(r)-1)
		}
		for _, s := range e.Scalars {
			tag, v := s[0].(string), float64(math.Float32frombits(uint32(s[1].(float64))))
			want, ok := r[tag]
			// metrics.jsonl keeps 7 significant digits and TensorBoard a float32: they agree to 1e-6.
			if !ok || math.Abs(v-want) > 1e-6*math.Abs(want) {
				t.Errorf("step %d %s: %v in TensorBoard, %v in metrics.jsonl", e.Step, tag, v, want)
			}
		}
	}
}

// A run configured by a file, with the command line winning, writes its effective configuration;
// the file alone (with a new --out) repeats the run, and --tensorboard writes every metric of
// metrics.jsonl. Oracles: config.json and metrics.jsonl of the first run (an earlier path of this
// project), and internal/tfevent's Python reader of event files under /usr/bin/python3.
func TestRunFromConfigFileWithTensorBoard(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 for the event-file reader")
	}
	tmp := t.TempDir()
	cfg := writeFile(t, "run.yaml", "init: "+tinyCheckpoint(t)+"\nsteps: 5\nbatch: 2\ngroup: 2\nlr: 2.0e-4\n"+
		"eval-scenes: 2\neval-every: 0\nplot-every: 0\nmonitor-interval: 0\n")
	run1, run2 := filepath.Join(tmp, "run1"), filepath.Join(tmp, "run2")
	if got, code := runProgram(t, "train", "--config", cfg, "--steps", "2", "--out", run1, "--tensorboard"); code != 0 {
		t.Fatalf("run 1: exit %d\n%s", code, got)
	}
	var c1 trainConfig
	if err := trainer.ReadRunConfig(run1, &c1); err != nil {
		t.Fatal(err)
	}
	if c1.Steps != 2 || c1.Group != 2 || c1.Batch != 2 || c1.LR != 2e-4 {
		t.Errorf("config.json: steps %d group %d batch %d lr %v; want 2 (command line), 2, 2 and 2e-4 (file)", c1.Steps, c1.Group, c1.Batch, c1.LR)
	}
	if got, code := runProgram(t, "train", "--config", filepath.Join(run1, RunConfigFile), "--out", run2); code != 0 {
		t.Fatalf("run 2 from run 1's %s: exit %d\n%s", RunConfigFile, code, got)
	}
	js1, _ := os.ReadFile(filepath.Join(run1, "config.json"))
	js2, _ := os.ReadFile(filepath.Join(run2, "config.json"))
	if a, b := strings.ReplaceAll(string(js1), run1, "RUN"), strings.ReplaceAll(string(js2), run2, "RUN"); a != b {
		t.Errorf("config.json of the repeat differs:\n%s\nwant\n%s", b, a)
	}
	recs1, err1 := trainer.ReadRecords(filepath.Join(run1, "metrics.jsonl"))
	recs2, err2 := trainer.ReadRecords(filepath.Join(run2, "metrics.jsonl"))
	if err1 != nil || err2 != nil || len(recs1) != 2 || len(recs2) != 2 {
		t.Fatalf("metrics: %d and %d records (%v, %v)", len(recs1), len(recs2), err1, err2)
	}
	for i := range recs1 {
		for _, k := range []string{"reward_mean", "loss", "kl", "grad_norm", "eval_reward"} {
			if x, y := recs1[i][k], recs2[i][k]; x != y {
				t.Errorf("step %d %s: %v in the repeat, %v in the run", i+1, k, y, x)
			}
		}
	}
	for i, run := range []string{run1, run2} { // the repeat writes to its own tb/, as the run did
		files := readTensorBoard(t, filepath.Join(run, "tb"))
		if len(files) != 1 || len(files[0]) == 0 || files[0][0].FileVersion != "brain.Event:2" {
			t.Fatalf("%s/tb: %d event files; want one starting with its file version", run, len(files))
		}
		checkScalars(t, files[0], [][]trainer.Record{recs1, recs2}[i])
	}

	// Resumed, the run starts a second event file with a restart at its first step.
	if got, code := runProgram(t, "train", "--resume", run1, "--steps", "3", "--tensorboard"); code != 0 {
		t.Fatalf("resume: exit %d\n%s", code, got)
	}
	recs, _ := trainer.ReadRecords(filepath.Join(run1, "metrics.jsonl"))
	files := readTensorBoard(t, filepath.Join(run1, "tb"))
	if len(files) != 2 || len(files[1]) < 2 || files[1][1].SessionLog != 1 || files[1][1].Step != 3 || len(recs) != 3 {
		t.Fatalf("after --resume: %d event files, %d records; want a second file with a restart at step 3", len(files), len(recs))
	}
	checkScalars(t, files[1], recs[2:])
}
