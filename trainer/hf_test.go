package trainer

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf/lm"
	"github.com/unigrpo/unigrpo/models/hf/qwenvl"
	"github.com/unigrpo/unigrpo/world"
	worldtask "github.com/unigrpo/unigrpo/world/task"
)

// Unified-GRPO runs unchanged on a Hugging Face language model as the policy (the tiny Qwen2
// checkpoint of models/hf's transformers fixtures, with a text-only prompt), and 1 and 2 ranks
// give the same metrics. Oracle: the 1-rank run.
func TestGRPOOnHFTextPolicy(t *testing.T) {
	dir, load := qwen2TextPolicy(t, raw.Float32)
	tmp := t.TempDir()
	var runs [][]Record
	for _, ranks := range []int{1, 2} {
		c := smallGRPO(filepath.Join(dir, "model.safetensors"), filepath.Join(tmp, fmt.Sprint(ranks)))
		c.Steps, c.EvalScenes, c.LR = 3, 0, 1e-3
		runRanksWith(t, ranks, false, func(d *Dist) error {
			rw, err := worldtask.NewReward(world.DefaultConfig(), "all")
			if err != nil {
				return err
			}
			task := Task{Source: worldtask.Source{World: world.DefaultConfig()}, Reward: rw, Load: load, About: "world scenes"}
			return Train(c.GRPOConfig, task, false, d, nil)
		})
		recs, err := ReadRecords(filepath.Join(c.Out, "metrics.jsonl"))
		if err != nil || len(recs) != 3 {
			t.Fatalf("%d ranks: %d records (%v)", ranks, len(recs), err)
		}
		runs = append(runs, recs)
	}
	for i := range runs[0] {
		for _, k := range []string{"reward_mean", "loss", "kl", "grad_norm", "length_mean", "entropy"} {
			if x, y := runs[0][i][k], runs[1][i][k]; math.Abs(x-y) > 1e-5*math.Max(1, math.Abs(x)) {
				t.Errorf("step %d %s: 1 rank %v, 2 ranks %v", i+1, k, x, y)
			}
		}
	}
	if runs[0][2]["grad_norm"] == 0 || runs[0][2]["kl"] == 0 {
		t.Errorf("the policy did not move: %v", runs[0][2])
	}
}

// qwen2TextPolicy is the tiny Qwen2 checkpoint of models/hf's transformers fixtures as a
// text-prompted policy in dtype kind: its folder and its loader.
func qwen2TextPolicy(t *testing.T, kind raw.Kind) (string, func(string, gotch.Device, LoadOptions) (Policy, error)) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "models", "hf", "testdata", "transformers", "qwen2"))
	if err != nil {
		t.Fatal(err)
	}
	return dir, func(path string, dev gotch.Device, o LoadOptions) (Policy, error) {
		if filepath.Ext(path) == ".safetensors" {
			path = filepath.Dir(path)
		}
		p, err := lm.NewTextPolicy(path, dev, kind, []int{310, 341, 333}, []int{362},
			func(ids []int) string { return fmt.Sprint(ids) }, 8, !o.Frozen)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

// The paper's setting in miniature: a Qwen2.5-VL-layout policy (captions conditioned on the
// image, vision frozen) and a CLIP-layout encoder in the reward, 10 steps of Unified-GRPO on 1
// and 2 ranks with equal metrics (oracle: the 1-rank run).
func TestGRPOOnQwenVLWithCLIPReward(t *testing.T) {
	fix, err := filepath.Abs(filepath.Join("..", "models", "hf", "testdata", "transformers"))
	if err != nil {
		t.Fatal(err)
	}
	prompt := "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is in the picture?<|im_end|>\n<|im_start|>assistant\n"
	load := func(path string, dev gotch.Device, o LoadOptions) (Policy, error) {
		if filepath.Ext(path) == ".safetensors" {
			path = filepath.Dir(path)
		}
		p, err := qwenvl.NewPolicy(path, dev, raw.Float32, prompt, 32, 8, !o.Frozen)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	tmp := t.TempDir()
	var runs [][]Record
	for _, ranks := range []int{1, 2} {
		c := smallGRPO(filepath.Join(fix, "qwen2_5_vl", "model.safetensors"), filepath.Join(tmp, fmt.Sprint(ranks)))
		c.Steps, c.Batch, c.EvalScenes, c.CkptEvery, c.LR = 10, 2, 2, 10, 1e-3
		c.Reward = "conv,clip=" + filepath.Join(fix, "clip_vision")
		runRanksWith(t, ranks, false, func(d *Dist) error {
			rw, err := worldtask.NewReward(world.DefaultConfig(), c.Reward)
			if err != nil {
				return err
			}
			defer rw.Close()
			task := Task{Source: worldtask.Source{World: world.DefaultConfig()}, Reward: rw, Load: load, About: "world scenes"}
			return Train(c.GRPOConfig, task, false, d, nil)
		})
		recs, err := ReadRecords(filepath.Join(c.Out, "metrics.jsonl"))
		if err != nil || len(recs) != 10 {
			t.Fatalf("%d ranks: %d records (%v)", ranks, len(recs), err)
		}
		runs = append(runs, recs)
	}
	for i := range runs[0] {
		for _, k := range []string{"reward_mean", "reward_clip", "loss", "kl", "grad_norm", "length_mean"} {
			if x, y := runs[0][i][k], runs[1][i][k]; math.Abs(x-y) > 1e-5*math.Max(1, math.Abs(x)) {
				t.Errorf("step %d %s: 1 rank %v, 2 ranks %v", i+1, k, x, y)
			}
		}
	}
	if runs[0][9]["kl"] == 0 || runs[0][9]["reward_clip"] == 0 {
		t.Errorf("the policy did not move or the CLIP reward is missing: %v", runs[0][9])
	}
}
