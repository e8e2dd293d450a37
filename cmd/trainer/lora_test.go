package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/lm"
)

// lmLogits is the logits of a fixed batch under m.
func lmLogits(t *testing.T, m *lm.Model) []float32 {
	t.Helper()
	a := raw.New(gotch.CPU.CInt())
	defer a.Free()
	in := hf.Batch{IDs: [][]int{{5, 17, 200, 3, 90}}, Pos: [][]int{{0, 1, 2, 3, 4}}, Mask: [][]int{{1, 1, 1, 1, 1}}}
	_, lg, err := m.Forward(a, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, hf.Numel(a.Shape(lg)))
	a.CopyToFloat32(a.Contiguous(lg), out)
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// `train --lora-rank` on the Qwen2 fixture writes its LoRA settings to config.json and PEFT
// adapter folders as checkpoints; `export --merge` writes a Hugging Face folder whose logits are
// the base model's with the adapters (1e-5), and `export` alone a PEFT folder. Oracle: the
// checkpoint's adapters over the base model, run by the decoder (models/hf's LoRA tests check
// that path against the base and the merge).
func TestTrainLoRAAndExport(t *testing.T) {
	tmp := t.TempDir()
	base, _ := filepath.Abs(filepath.Join(fixtures, "qwen2"))
	out := filepath.Join(tmp, "run")
	got, code := runProgram(t, "train", "--init", base, "--out", out, "--steps", "2", "--batch", "2", "--group", "2", "--max-len", "4",
		"--lr", "0.05", "--lora-rank", "2", "--lora-targets", "q_proj,v_proj,down_proj", "--ckpt-every", "2",
		"--eval-scenes", "0", "--plot-every", "0", "--monitor-interval", "0")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, got)
	}
	var cfg struct {
		Rank    int     `json:"lora_rank"`
		Alpha   float64 `json:"lora_alpha"`
		Targets string  `json:"lora_targets"`
	}
	js, _ := os.ReadFile(filepath.Join(out, "config.json"))
	if err := json.Unmarshal(js, &cfg); err != nil || cfg.Rank != 2 || cfg.Targets != "q_proj,v_proj,down_proj" {
		t.Fatalf("config.json LoRA settings %+v (%v)", cfg, err)
	}
	ck := filepath.Join(out, "checkpoints", "step-000002")
	ac, abase, err := hf.ReadAdapterFolder(ck)
	if err != nil || abase != base || ac.Rank != 2 || ac.Alpha != 4 {
		t.Fatalf("checkpoint adapter config %+v over %s (%v); want rank 2, alpha 4 (2 x rank) over %s", ac, abase, err, base)
	}
	merged := filepath.Join(tmp, "merged")
	if got, code := runProgram(t, "export", "--ckpt", out, "--out", merged, "--merge"); code != 0 {
		t.Fatalf("export --merge: exit %d\n%s", code, got)
	}
	peft := filepath.Join(tmp, "peft")
	if got, code := runProgram(t, "export", "--ckpt", ck, "--out", peft); code != 0 {
		t.Fatalf("export: exit %d\n%s", code, got)
	}
	for _, f := range []string{hf.AdapterConfigFile, hf.AdapterWeightsFile} {
		if _, err := os.Stat(filepath.Join(peft, f)); err != nil {
			t.Errorf("export without --merge: %v", err)
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ref, err := lm.Load(base, gotch.CPU, raw.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	plain := lmLogits(t, ref)
	if err := ref.LoadAdapterFolder(ck); err != nil {
		t.Fatal(err)
	}
	want := lmLogits(t, ref)
	m, err := lm.Load(merged, gotch.CPU, raw.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got2 := lmLogits(t, m)
	moved, diff := 0.0, 0.0
	for i := range want {
		moved = max(moved, float64(abs32(want[i]-plain[i])))
		diff = max(diff, float64(abs32(got2[i]-want[i])))
	}
	if moved == 0 {
		t.Fatal("the trained adapters do not change the logits: the test would not see a wrong merge")
	}
	if diff > 1e-5 {
		t.Fatalf("merged folder's logits differ from base + adapters by %g (tolerance 1e-5)", diff)
	}
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// Impossible LoRA settings, and LoRA on a policy that is not a Hugging Face language model, are
// usage errors naming the problem. Oracle: the flags' documented values.
func TestLoRAUsageErrors(t *testing.T) {
	base := filepath.Join(fixtures, "qwen2")
	tmp := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--init", base, "--out", filepath.Join(tmp, "a"), "--lora-rank", "-1"}, "--lora-rank -1"},
		{[]string{"train", "--init", base, "--out", filepath.Join(tmp, "b"), "--lora-rank", "4", "--lora-targets", "q_proj,qkv"}, `unknown target "qkv"`},
		{[]string{"train", "--init", tinyCheckpoint(t), "--out", filepath.Join(tmp, "c"), "--lora-rank", "4", "--plot-every", "0", "--monitor-interval", "0"}, "LoRA applies to Hugging Face language models"},
		{[]string{"export", "--ckpt", base, "--out", filepath.Join(tmp, "d"), "--merge"}, "holds no LoRA adapters"},
	} {
		got, code := runProgram(t, c.args...)
		if code != 2 || !strings.Contains(got, c.want) {
			t.Errorf("%v: exit %d, want 2 and a message saying %q:\n%s", c.args, code, c.want, got)
		}
	}
}
