package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/trainer"
)

// --top-p reaches the run: config.json records it (as top_k), a run with it completes, and a
// resume that would change it is a usage error naming it. Oracle: the value given on the command
// line and the resume contract (only --steps may change).
func TestTopPRecordedAndKept(t *testing.T) {
	run := filepath.Join(t.TempDir(), "grpo")
	out, code := runProgram(t, "train", "--init", tinyCheckpoint(t), "--out", run, "--steps", "1", "--batch", "2", "-G", "2",
		"--top-k", "5", "--top-p", "0.9", "--eval-scenes", "0", "--eval-every", "0", "--plot-every", "0", "--monitor-interval", "0")
	if code != 0 {
		t.Fatalf("train --top-p 0.9: exit %d: %s", code, out)
	}
	var cfg trainConfig
	if err := trainer.ReadRunConfig(run, &cfg); err != nil || cfg.TopP != 0.9 || cfg.TopK != 5 {
		t.Errorf("config.json: top-p %v, top-k %d (%v); want 0.9 and 5", cfg.TopP, cfg.TopK, err)
	}
	out, code = runProgram(t, "train", "--resume", run, "--steps", "2", "--top-p", "0.5")
	if code != 2 || !strings.Contains(out, "--top-p") {
		t.Errorf("resume with another --top-p: exit %d, %q; want exit 2 naming --top-p", code, out)
	}
}
