package trainer

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/lm"
	"github.com/unigrpo/unigrpo/world"
	worldtask "github.com/unigrpo/unigrpo/world/task"
)

// loraWatch counts what a LoRA run's loader saw: reference copies loaded (there should be none)
// and policies whose base weights changed between load and close (there should be none).
type loraWatch struct {
	mu                   sync.Mutex
	loads, frozen, moved int
	params               []string // the trainable parameters' names of the last policy loaded
}

// watchedLoRA is a LoRA policy that checks, when closed, that its base weights are bit-identical
// to those it was loaded with.
type watchedLoRA struct {
	*lm.TextPolicy
	base map[string][]float32
	w    *loraWatch
}

func (p watchedLoRA) Close() {
	now := baseValues(p.TextPolicy)
	p.w.mu.Lock()
	for n, v := range p.base {
		if !slices.Equal(now[n], v) {
			p.w.moved++
		}
	}
	p.w.mu.Unlock()
	p.TextPolicy.Close()
}

// baseValues reads every base weight of p.
func baseValues(p *lm.TextPolicy) map[string][]float32 {
	a := raw.New(p.Device().CInt())
	defer a.Free()
	out := map[string][]float32{}
	for n, h := range p.LM.Tensors() {
		v := make([]float32, hf.Numel(a.Shape(h)))
		a.CopyToFloat32(a.Contiguous(h), v)
		out[n] = v
	}
	return out
}

// qwen2LoRALoader loads the tiny Qwen2 fixture with rank-4 adapters on every projection (or a
// LoRA checkpoint's adapters), watched by w.
func qwen2LoRALoader(t *testing.T, w *loraWatch) func(string, gotch.Device, LoadOptions) (Policy, error) {
	dir, _ := qwen2TextPolicy(t, raw.Float32)
	cfg := hf.LoRAConfig{Rank: 4, Alpha: 8, Targets: hf.LoRATargets()}
	return func(path string, dev gotch.Device, o LoadOptions) (Policy, error) {
		w.mu.Lock()
		w.loads++
		if o.Frozen {
			w.frozen++
		}
		w.mu.Unlock()
		detok := func(ids []int) string { return fmt.Sprint(ids) }
		var p *lm.TextPolicy
		var err error
		if ad := filepath.Dir(path); hf.IsAdapterFolder(ad) {
			p, err = lm.NewAdaptedTextPolicy(ad, dev, raw.Float32, []int{310, 341, 333}, []int{362}, detok, 8, !o.Frozen)
		} else if p, err = lm.NewTextPolicy(dir, dev, raw.Float32, []int{310, 341, 333}, []int{362}, detok, 8, !o.Frozen); err == nil {
			if err = p.AddLoRA(cfg, 11); err != nil {
				p.Close()
			}
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for _, prm := range p.TrainableParams() {
			names = append(names, prm.Name)
		}
		w.mu.Lock()
		w.params = names
		w.mu.Unlock()
		return watchedLoRA{TextPolicy: p, base: baseValues(p), w: w}, nil
	}
}

// loraRun trains the LoRA policy on ranks ranks for c's steps (resuming c.Out with resume).
func loraRun(t *testing.T, c testRun, ranks int, resume bool, w *loraWatch) []Record {
	t.Helper()
	load := qwen2LoRALoader(t, w)
	runRanksWith(t, ranks, false, func(d *Dist) error {
		rw, err := worldtask.NewReward(world.DefaultConfig(), "all")
		if err != nil {
			return err
		}
		task := Task{Source: worldtask.Source{World: world.DefaultConfig()}, Reward: rw, Load: load, About: "world scenes"}
		return Train(c.GRPOConfig, task, resume, d, nil)
	})
	recs, err := ReadRecords(filepath.Join(c.Out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// GRPO with LoRA on the Qwen2 fixture: only the adapters train (the trainable parameters are the
// adapters, and every base weight is bit-identical after the steps), no reference copy is loaded
// (the KL reference is the policy with its adapters off: the KL grows from 0 as the adapters
// move), checkpoints hold the adapters as a PEFT folder, and 1 and 2 ranks give the same metrics.
// Oracles: the weights as loaded (exact), and the 1-rank run (the existing multi-rank pattern).
func TestGRPOWithLoRA(t *testing.T) {
	dir, _ := qwen2TextPolicy(t, raw.Float32)
	tmp := t.TempDir()
	var runs [][]Record
	for _, ranks := range []int{1, 2} {
		w := &loraWatch{}
		c := smallGRPO(filepath.Join(dir, "model.safetensors"), filepath.Join(tmp, fmt.Sprint(ranks)))
		c.Steps, c.EvalScenes, c.LR, c.CkptEvery = 3, 0, 1e-2, 3
		recs := loraRun(t, c, ranks, false, w)
		if len(recs) != 3 {
			t.Fatalf("%d ranks: %d records", ranks, len(recs))
		}
		runs = append(runs, recs)
		if w.frozen != 0 || w.loads != ranks {
			t.Errorf("%d ranks: %d loads, %d of them a frozen reference; want %d and none", ranks, w.loads, w.frozen, ranks)
		}
		if w.moved != 0 {
			t.Errorf("%d ranks: %d base weights changed", ranks, w.moved)
		}
		if len(w.params) != 2*2*7 {
			t.Errorf("%d trainable parameters, want lora_A and lora_B of 7 projections in 2 layers", len(w.params))
		}
		for _, n := range w.params {
			if !strings.Contains(n, ".lora_A.") && !strings.Contains(n, ".lora_B.") {
				t.Errorf("trainable parameter %s is not an adapter", n)
			}
		}
		ck := filepath.Join(c.Out, checkpointDir, CheckpointName(3))
		for f, want := range map[string]bool{adapterConfigFile: true, adapterWeightsFile: true, modelFile: false} {
			if _, err := os.Stat(filepath.Join(ck, f)); (err == nil) != want {
				t.Errorf("checkpoint %s: %s present %v, want %v", ck, f, err == nil, want)
			}
		}
	}
	for i := range runs[0] {
		for _, k := range []string{"reward_mean", "loss", "kl", "grad_norm", "length_mean", "entropy"} {
			if x, y := runs[0][i][k], runs[1][i][k]; math.Abs(x-y) > 1e-5*math.Max(1, math.Abs(x)) {
				t.Errorf("step %d %s: 1 rank %v, 2 ranks %v", i+1, k, x, y)
			}
		}
	}
	if runs[0][0]["kl"] != 0 {
		t.Errorf("step 1: kl %v; zero-initialised B makes the policy its reference", runs[0][0]["kl"])
	}
	if runs[0][2]["grad_norm"] == 0 || runs[0][2]["kl"] == 0 {
		t.Errorf("the adapters did not move: %v", runs[0][2])
	}
}

// A LoRA run interrupted after step 2 and resumed to step 4 matches an uninterrupted one: the
// checkpoint's adapters and optimizer state restore it exactly. Oracle: the uninterrupted run.
func TestLoRAResumeMatchesUninterrupted(t *testing.T) {
	dir, _ := qwen2TextPolicy(t, raw.Float32)
	tmp := t.TempDir()
	full := smallGRPO(filepath.Join(dir, "model.safetensors"), filepath.Join(tmp, "full"))
	full.Steps, full.EvalScenes, full.LR, full.CkptEvery = 4, 0, 1e-2, 2
	a := loraRun(t, full, 1, false, &loraWatch{})
	part := full
	part.Out, part.Steps = filepath.Join(tmp, "part"), 2
	loraRun(t, part, 1, false, &loraWatch{})
	part.Steps = 4
	b := loraRun(t, part, 1, true, &loraWatch{})
	if len(a) != 4 || len(b) != 4 {
		t.Fatalf("records: uninterrupted %d, resumed %d; want 4 each", len(a), len(b))
	}
	for i := range a {
		for _, k := range []string{"reward_mean", "length_mean", "loss", "kl", "grad_norm"} {
			if math.Abs(a[i][k]-b[i][k]) > 1e-5 {
				t.Errorf("step %d %s: uninterrupted %v, resumed %v", i+1, k, a[i][k], b[i][k])
			}
		}
	}
	if a[3]["weights_crc"] != b[3]["weights_crc"] {
		t.Errorf("final adapters differ: crc %v vs %v", a[3]["weights_crc"], b[3]["weights_crc"])
	}
}
