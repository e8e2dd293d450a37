package main

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/qwenvl"
	"github.com/unigrpo/unigrpo/trainer"
)

// vlLogProbs is the teacher-forced log-probs of fixed captions of two fixed images under the
// policy load returns, which it closes.
func vlLogProbs(t *testing.T, load func() (*qwenvl.Policy, error)) []float32 {
	t.Helper()
	p, err := load()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	imgs := make([]images.Planar, 2)
	for i := range imgs {
		rgb := make([]uint8, 3*32*32)
		for j := range rgb {
			rgb[j] = uint8(rng.IntN(256))
		}
		imgs[i] = images.FromRGB8(32, 32, rgb)
	}
	sc, err := p.LogProbs(imgs, 1, [][]int{{5, 17, 300, 2}, {44, 9}}, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Drop()
	out := make([]float32, 2*sc.T)
	if err := sc.LogProbs.CopyData(out, uint(len(out))); err != nil {
		t.Fatal(err)
	}
	return out
}

// `train --lora-rank` on the Qwen2.5-VL fixture trains adapters on its language model and
// checkpoints them as a PEFT folder, from which it resumes; `export --merge` writes a Qwen2.5-VL folder this project
// loads, whose log-probs are the base model's with the adapters (1e-5). Oracle: the checkpoint's
// adapters over the base model (qwenvl's LoRA tests check that path against the base and the
// merge), and the base model alone to show the adapters moved.
func TestTrainQwenVLLoRAAndExport(t *testing.T) {
	tmp := t.TempDir()
	base, _ := filepath.Abs(filepath.Join(fixtures, "qwen2_5_vl"))
	imgs := filepath.Join(tmp, "imgs")
	writeImages(t, imgs, 4)
	out := filepath.Join(tmp, "run")
	got, code := runProgram(t, "train", "--init", base, "--out", out, "--images", imgs, "--images-held-out", "0",
		"--image-size", "32", "--steps", "2", "--batch", "2", "--group", "2", "--max-len", "4", "--lr", "0.05",
		"--lora-rank", "2", "--lora-targets", "q_proj,v_proj,down_proj", "--ckpt-every", "2",
		"--eval-scenes", "0", "--plot-every", "0", "--monitor-interval", "0")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, got)
	}
	ck := filepath.Join(out, "checkpoints", "step-000002")
	ac, abase, err := hf.ReadAdapterFolder(ck)
	if err != nil || abase != base || ac.Rank != 2 {
		t.Fatalf("checkpoint adapter config %+v over %s (%v); want rank 2 over %s", ac, abase, err, base)
	}
	merged := filepath.Join(tmp, "merged")
	if got, code := runProgram(t, "export", "--ckpt", out, "--out", merged, "--merge"); code != 0 {
		t.Fatalf("export --merge: exit %d\n%s", code, got)
	}
	if _, err := os.Stat(filepath.Join(merged, "preprocessor_config.json")); err != nil {
		t.Errorf("the merged folder lacks the image processor: %v", err)
	}
	// The run resumes from its PEFT checkpoint (the loader takes the adapter folder, loads the
	// base it names and the adapters) and goes on to step 3.
	if got, code := runProgram(t, "train", "--resume", out, "--steps", "3"); code != 0 {
		t.Fatalf("train --resume: exit %d\n%s", code, got)
	}
	if recs, err := trainer.ReadRecords(filepath.Join(out, "metrics.jsonl")); err != nil || len(recs) != 3 {
		t.Fatalf("after --resume to step 3: %d records (%v)", len(recs), err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	chat, err := hf.ImageChatPrompt("qwen2_5_vl", "Describe the image.")
	if err != nil {
		t.Fatal(err)
	}
	plain := vlLogProbs(t, func() (*qwenvl.Policy, error) {
		return qwenvl.NewPolicy(base, gotch.CPU, raw.Float32, chat, 32, 4, false)
	})
	want := vlLogProbs(t, func() (*qwenvl.Policy, error) {
		return qwenvl.NewAdaptedPolicy(ck, gotch.CPU, raw.Float32, chat, 32, 4, false)
	})
	got2 := vlLogProbs(t, func() (*qwenvl.Policy, error) {
		return qwenvl.NewPolicy(merged, gotch.CPU, raw.Float32, chat, 32, 4, false)
	})
	moved, diff := 0.0, 0.0
	for i := range want {
		moved = max(moved, float64(abs32(want[i]-plain[i])))
		diff = max(diff, float64(abs32(got2[i]-want[i])))
	}
	if moved == 0 {
		t.Fatal("the trained adapters do not change the log-probs: the test would not see a wrong merge")
	}
	if diff > 1e-5 {
		t.Fatalf("merged folder's log-probs differ from base + adapters by %g (tolerance 1e-5)", diff)
	}
}
