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
	"github.com/unigrpo/unigrpo/models/hf/qwenvl"
	"github.com/unigrpo/unigrpo/world"
	worldtask "github.com/unigrpo/unigrpo/world/task"
)

// vlLoRAWatch counts what a Qwen2.5-VL LoRA run's loader saw: reference copies loaded, weights
// of the base model or the vision tower that changed between load and close (there should be
// none), and the trainable parameters' names of the last policy loaded.
type vlLoRAWatch struct {
	mu                   sync.Mutex
	loads, frozen, moved int
	params               []string
}

// watchedVLLoRA is a Qwen2.5-VL LoRA policy that checks, when closed, that every weight it was
// loaded with (language model and vision tower) is bit-identical.
type watchedVLLoRA struct {
	*qwenvl.Policy
	base map[string][]float32
	w    *vlLoRAWatch
}

func (p watchedVLLoRA) Close() {
	now := vlValues(p.Policy)
	p.w.mu.Lock()
	for n, v := range p.base {
		if !slices.Equal(now[n], v) {
			p.w.moved++
		}
	}
	p.w.mu.Unlock()
	p.Policy.Close()
}

// vlValues reads every weight of p's model (language model and vision tower).
func vlValues(p *qwenvl.Policy) map[string][]float32 {
	a := raw.New(p.Device().CInt())
	defer a.Free()
	out := map[string][]float32{}
	for n, h := range p.Model.Tensors() {
		v := make([]float32, hf.Numel(a.Shape(h)))
		a.CopyToFloat32(a.Contiguous(a.To(h, raw.Float32)), v)
		out[n] = v
	}
	return out
}

// qwenVLLoRALoader loads the Qwen2.5-VL fixture with rank-4 adapters on every projection of its
// language model (or a LoRA checkpoint's adapters), watched by w.
func qwenVLLoRALoader(dir string, w *vlLoRAWatch) func(string, gotch.Device, LoadOptions) (Policy, error) {
	prompt := "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is in the picture?<|im_end|>\n<|im_start|>assistant\n"
	cfg := hf.LoRAConfig{Rank: 4, Alpha: 8, Targets: hf.LoRATargets()}
	return func(path string, dev gotch.Device, o LoadOptions) (Policy, error) {
		w.mu.Lock()
		w.loads++
		if o.Frozen {
			w.frozen++
		}
		w.mu.Unlock()
		var p *qwenvl.Policy
		var err error
		if ad := filepath.Dir(path); hf.IsAdapterFolder(ad) {
			p, err = qwenvl.NewAdaptedPolicy(ad, dev, raw.Float32, prompt, 32, 6, !o.Frozen)
		} else if p, err = qwenvl.NewPolicy(dir, dev, raw.Float32, prompt, 32, 6, !o.Frozen); err == nil {
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
		return watchedVLLoRA{Policy: p, base: vlValues(p), w: w}, nil
	}
}

// vlLoRARun trains the Qwen2.5-VL LoRA policy on one rank for c's steps (resuming c.Out with
// resume).
func vlLoRARun(t *testing.T, c testRun, ranks int, resume bool, w *vlLoRAWatch) []Record {
	t.Helper()
	load := qwenVLLoRALoader(filepath.Dir(c.Init), w)
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

// vlFixture is the Qwen2.5-VL fixture's weights file.
func vlFixture(t *testing.T) string {
	fix, err := filepath.Abs(filepath.Join("..", "models", "hf", "testdata", "transformers", "qwen2_5_vl", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return fix
}

// GRPO with LoRA on the Qwen2.5-VL fixture: only the language model's adapters train, every base
// weight and every vision-tower weight is bit-identical after the steps, no reference copy is
// loaded (the KL reference is the policy with its adapters off: 0 at step 1, then growing), the
// checkpoint is a PEFT adapter folder, and 1 and 2 ranks give the same metrics. Oracles: the
// weights as loaded (exact), the zero-initialised B (KL exactly 0 at step 1), and the 1-rank run
// (the existing multi-rank pattern).
func TestGRPOWithLoRAOnQwenVL(t *testing.T) {
	tmp := t.TempDir()
	var runs [][]Record
	for _, ranks := range []int{1, 2} {
		w := &vlLoRAWatch{}
		c := smallGRPO(vlFixture(t), filepath.Join(tmp, fmt.Sprint(ranks)))
		c.Steps, c.Batch, c.EvalScenes, c.LR, c.CkptEvery = 3, 2, 0, 1e-2, 3
		recs := vlLoRARun(t, c, ranks, false, w)
		if len(recs) != 3 {
			t.Fatalf("%d ranks: %d records", ranks, len(recs))
		}
		runs = append(runs, recs)
		if w.frozen != 0 || w.loads != ranks {
			t.Errorf("%d ranks: %d loads, %d of them a frozen reference; want %d and none", ranks, w.loads, w.frozen, ranks)
		}
		if w.moved != 0 {
			t.Errorf("%d ranks: %d base or vision weights changed", ranks, w.moved)
		}
		if len(w.params) != 2*7*2 {
			t.Errorf("%d trainable parameters, want lora_A and lora_B of 7 projections in 2 layers", len(w.params))
		}
		for _, n := range w.params {
			if !strings.HasPrefix(n, "base_model.model.model.language_model.layers.") || (!strings.Contains(n, ".lora_A.") && !strings.Contains(n, ".lora_B.")) {
				t.Errorf("trainable parameter %s is not a language-model adapter", n)
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
	recs := runs[0]
	if recs[0]["kl"] != 0 {
		t.Errorf("step 1: kl %v; zero-initialised B makes the policy its reference", recs[0]["kl"])
	}
	if recs[2]["grad_norm"] == 0 || recs[2]["kl"] == 0 {
		t.Errorf("the adapters did not move: %v", recs[2])
	}
}

// A Qwen2.5-VL LoRA run interrupted after step 2 and resumed to step 4 matches an uninterrupted
// one. Oracle: the uninterrupted run.
func TestQwenVLLoRAResumeMatchesUninterrupted(t *testing.T) {
	tmp := t.TempDir()
	full := smallGRPO(vlFixture(t), filepath.Join(tmp, "full"))
	full.Steps, full.Batch, full.EvalScenes, full.LR, full.CkptEvery = 4, 2, 0, 1e-2, 2
	a := vlLoRARun(t, full, 1, false, &vlLoRAWatch{})
	part := full
	part.Out, part.Steps = filepath.Join(tmp, "part"), 2
	vlLoRARun(t, part, 1, false, &vlLoRAWatch{})
	part.Steps = 4
	b := vlLoRARun(t, part, 1, true, &vlLoRAWatch{})
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
	if a[3]["kl"] == 0 {
		t.Errorf("the adapters did not move: %v", a[3])
	}
}
