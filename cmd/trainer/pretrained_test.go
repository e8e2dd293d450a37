package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/unigrpo/unigrpo/launch"
	"github.com/unigrpo/unigrpo/trainer"
)

// pretrainedDir holds the baselines scripts/pretrain-world.sh ships (from this package's folder).
const pretrainedDir = "../../world/pretrained"

// made is a shipped baseline's made.json: how scripts/pretrain-world.sh made it.
type made struct {
	Name   string            `json:"name"`
	Commit string            `json:"commit"`
	NP     int               `json:"np"`
	Args   []string          `json:"args"`
	SHA256 map[string]string `json:"sha256"`
}

func readMade(t *testing.T, name string) made {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pretrainedDir, name, "made.json"))
	if err != nil {
		t.Fatalf("shipped baseline %s: %v (make pretrain writes it)", name, err)
	}
	var m made
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s/made.json: %v", name, err)
	}
	return m
}

// replayArgs is a shipped run's command cut to its first steps into out: --steps becomes steps
// with --decay-steps the full run's (the same learning rates), no held-out evaluation, and paths
// to other shipped baselines taken from this package's folder.
func replayArgs(t *testing.T, m made, steps int, out string) []string {
	t.Helper()
	var args []string
	full := ""
	for i := 0; i < len(m.Args); i++ {
		a := m.Args[i]
		switch {
		case a == "--steps" && i+1 < len(m.Args):
			full = m.Args[i+1]
			args = append(args, a, strconv.Itoa(steps))
			i++
		case a == "--eval-scenes" && i+1 < len(m.Args):
			args = append(args, a, "0")
			i++
		case a == "--init" && i+1 < len(m.Args):
			args = append(args, a, fromRoot(m.Args[i+1]))
			i++
		default:
			args = append(args, a)
		}
	}
	if full == "" {
		t.Fatalf("%s: made.json's args have no --steps: %v", m.Name, m.Args)
	}
	return append(args, "--decay-steps", full, "--out", out, "--monitor-interval", "0")
}

// fromRoot is a path of a made.json, relative to the repository's root, from this package's folder.
func fromRoot(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join("../..", path)
}

// The baselines the demos start from are what their made.json says. Each file's SHA-256 is the
// recorded one, and each command, replayed for its first 20 steps on the same number of ranks (one
// libtorch thread each), gives the shipped metrics.jsonl's first 20 records. Oracle: the run that
// made them (its metrics.jsonl, printed to 7 digits): on that machine the replay is exact; the
// bound of 1e-4 relative leaves room for another CPU's BLAS kernels rounding differently.
func TestShippedBaselinesReplay(t *testing.T) {
	const steps = 20
	t.Setenv("TRAINER_TEST_MAIN", "1") // the workers are this test binary running main
	for _, name := range []string{"umm1-sft", "umm2-vq", "umm2-sft"} {
		t.Run(name, func(t *testing.T) {
			m := readMade(t, name)
			for f, want := range m.SHA256 {
				b, err := os.ReadFile(filepath.Join(pretrainedDir, name, f))
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != want {
					t.Errorf("%s/%s: SHA-256 %x, made.json records %s", name, f, got, want)
				}
			}
			out := filepath.Join(t.TempDir(), name)
			var log bytes.Buffer
			cfg := launch.Config{NProcs: m.NP, NNodes: 1, MasterAddr: "127.0.0.1", Program: os.Args[0],
				Args: replayArgs(t, m, steps, out), Stdout: &log, Stderr: &log}
			if code, err := launch.Run(context.Background(), cfg, nil); code != 0 || err != nil {
				t.Fatalf("launch -np %d trainer %v: exit %d (%v)\n%s", m.NP, cfg.Args, code, err, log.String())
			}
			got, err := trainer.ReadRecords(filepath.Join(out, "metrics.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := trainer.ReadRecords(filepath.Join(pretrainedDir, name, "metrics.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != steps || len(want) < steps {
				t.Fatalf("%d replayed and %d shipped records, want %d of each", len(got), len(want), steps)
			}
			exact := 0
			for i := range got {
				for _, k := range []string{"lr", "loss", "grad_norm", "length_mean"} {
					x, y := got[i][k], want[i][k]
					if x == y {
						exact++
					} else if math.Abs(x-y) > 1e-4*math.Max(1e-3, math.Abs(y)) {
						t.Errorf("step %d %s: replay %v, shipped %v", i+1, k, x, y)
					}
				}
			}
			t.Logf("%s: %d of %d values equal to the shipped run's exactly (made at %s)", name, exact, 4*steps, m.Commit)
		})
	}
}
