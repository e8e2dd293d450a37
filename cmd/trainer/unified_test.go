package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/unigrpo/unigrpo/models/unified"
	"github.com/unigrpo/unigrpo/trainer"
)

// A unified-model folder is recognised by train and eval: GRPO runs with the model as its own
// decoder, and Unified-Bench reports the keys the issue names. (Oracle: the files the commands
// write; the numbers themselves are the trainer's and the model's tests' business.)
func TestUnifiedRunThroughTheCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "model")
	shape := unified.Shape{Dim: 32, Layers: 1, Heads: 2, Vision: 16, VLayers: 1, Codebook: 32, CodeDim: 4, Channels: 32}
	if err := unified.WriteFolder(dir, shape, 3); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(t.TempDir(), "grpo")
	out, code := runProgram(t, "train", "--init", dir, "--out", run, "--steps", "1", "--batch", "2", "-G", "2",
		"--eval-scenes", "2", "--max-len", "6", "--monitor-interval", "0", "--joint", "--draw-temperature", "1")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, out)
	}
	// --joint reaches the run: its config records it and its metrics hold the drawing half's.
	cfg := defaultTrainConfig()
	if err := trainer.ReadRunConfig(run, &cfg); err != nil || !cfg.Joint || cfg.DrawTemperature != 1 {
		t.Errorf("config.json: joint %v, draw temperature %v (%v)", cfg.Joint, cfg.DrawTemperature, err)
	}
	if recs, err := trainer.ReadRecords(filepath.Join(run, "metrics.jsonl")); err != nil || len(recs) != 1 || recs[0]["draw_tokens"] != 2*2*64 {
		t.Errorf("metrics.jsonl: %v (%v); want one record with draw_tokens = 4 drawings x 64 codes", recs, err)
	}
	if out, code := runProgram(t, "train", "--init", dir, "--out", run+"2", "--reward-url", "http://127.0.0.1:1"); code != 2 {
		t.Errorf("train --reward-url with a unified model: exit %d, want 2: %s", code, out)
	}
	bench := filepath.Join(t.TempDir(), "bench")
	out, code = runProgram(t, "eval", "--ckpt", "start="+dir, "--ckpt", "grpo="+run, "--scenes", "2", "--out", bench)
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, out)
	}
	js, err := os.ReadFile(filepath.Join(bench, "unibench.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 2 {
		t.Fatalf("%d rows, want the two checkpoints", len(rep.Rows))
	}
	for _, r := range rep.Rows {
		for _, k := range []string{"name", "overall", "object_recall", "vqa_accuracy", "vqa_small_accuracy", "generation_accuracy"} {
			if _, ok := r[k]; !ok {
				t.Errorf("row %v lacks %q", r["name"], k)
			}
		}
	}
	if out, code := runProgram(t, "eval", "--ckpt", dir, "--ckpt", tinyCheckpoint(t), "--scenes", "2"); code != 2 {
		t.Errorf("eval mixing a unified and a captioner checkpoint: exit %d, want 2: %s", code, out)
	}
}
