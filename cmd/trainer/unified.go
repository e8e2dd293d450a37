package main

import (
	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/eval"
	"github.com/unigrpo/unigrpo/models/unified"
	"github.com/unigrpo/unigrpo/trainer"
	"github.com/unigrpo/unigrpo/world"
	"github.com/unigrpo/unigrpo/world/task"
)

// This file wires the unified model (UMM-2, Janus layout) into the trainer: its two supervised
// stages (`trainer sft --unified vq`, then `--unified model --init VQ_RUN`), Unified-GRPO from a
// unified run (`trainer train --init RUN` recognises the folder) and Unified-Bench of such runs.

// The unified model is a policy of the trainer, its own decoder (reward.SelfDecoder, asserted in
// its package) and a prober of the benchmark.
var (
	_ trainer.SupervisedPolicy = (*unified.Policy)(nil)
	_ eval.ItemProber          = (*unified.Policy)(nil)
	_ trainer.Drawer           = (*unified.Policy)(nil)
	_ trainer.Supervised       = unified.Data{}
)

// unifiedSFT is the whole configuration of a supervised run of the unified model, as config.json
// records it.
type unifiedSFT struct {
	trainer.SFTConfig
	Stage     unified.Stage        `json:"stage"`
	Init      string               `json:"init,omitempty"` // the VQ stage's run (StageModel)
	Partial   world.PartialOptions `json:"partial"`
	DrawFull  float64              `json:"draw_full"`
	EmptyDraw float64              `json:"empty_draw"`
	Guidance  float64              `json:"guidance"`
	MaxLen    int                  `json:"max_len"`
	Model     unified.Shape        `json:"model"` // the tiny Janus of the VQ stage
}

// unifiedSFTTask wires a supervised stage of the unified model.
func unifiedSFTTask(c *unifiedSFT) (trainer.SFTTask, error) {
	if err := c.Partial.Validate(); err != nil {
		return trainer.SFTTask{}, trainer.ConfigError{Err: err}
	}
	data := unified.DefaultData()
	data.Partial, data.DrawFull, data.EmptyDraw = c.Partial, c.DrawFull, c.EmptyDraw
	o := unified.DefaultOptions()
	o.Stage, o.Guidance, o.MaxLen, o.SFT = c.Stage, c.Guidance, c.MaxLen, true
	var newPolicy func(dev gotch.Device, seed uint64) (trainer.SupervisedPolicy, error)
	switch c.Stage {
	case unified.StageVQ:
		if c.Init != "" {
			return trainer.SFTTask{}, usagef("sft --unified vq: the image tokenizer starts from scratch; drop --init")
		}
		if c.Captions != 1 {
			c.Captions = 1 // the VQ stage reads images only
		}
		shape := c.Model
		newPolicy = func(dev gotch.Device, seed uint64) (trainer.SupervisedPolicy, error) {
			p, err := unified.New(shape, seed, dev, o)
			if err != nil {
				return nil, err
			}
			return p, nil
		}
	case unified.StageModel:
		if c.Init == "" {
			return trainer.SFTTask{}, usagef("sft --unified model: --init is required (the run of --unified vq)")
		}
		file, err := trainer.ResolveModel(c.Init)
		if err != nil {
			return trainer.SFTTask{}, usagef("--init %s: %v", c.Init, err)
		}
		newPolicy = func(dev gotch.Device, seed uint64) (trainer.SupervisedPolicy, error) {
			p, err := unified.Open(modelDir(file), dev, o)
			if err != nil {
				return nil, err
			}
			return p, nil
		}
	default:
		return trainer.SFTTask{}, usagef("--unified %q: use vq (the image tokenizer) or model (the three tasks)", c.Stage)
	}
	return trainer.SFTTask{Data: data, Judge: task.Judge{}, Config: c, New: newPolicy}, nil
}

// isUnified reports whether a checkpoint (file, checkpoint folder or run) is a unified model.
func isUnified(path string) bool {
	file, err := trainer.ResolveModel(path)
	if err != nil {
		return false
	}
	_, typ := modelType(file)
	return typ == "janus"
}

// unifiedLoader opens unified checkpoints as GRPO policies (their own reward's decoder).
func unifiedLoader(c trainConfig) func(string, gotch.Device, trainer.LoadOptions) (trainer.Policy, error) {
	return func(path string, dev gotch.Device, lo trainer.LoadOptions) (trainer.Policy, error) {
		o := unified.DefaultOptions()
		o.Frozen, o.TrainVision, o.Reward = lo.Frozen, lo.TrainVision, c.Reward
		o.Guidance, o.DrawTemperature = c.Guidance, c.DrawTemperature
		if c.MaxLen > 0 {
			o.MaxLen = c.MaxLen
		}
		p, err := unified.Open(modelDir(path), dev, o)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

// unifiedGRPOTask wires Unified-GRPO of a unified model on the world's scenes: no task reward,
// the policy redraws the images itself.
func unifiedGRPOTask(c trainConfig) (trainer.Task, error) {
	if c.RewardURL != "" || c.Images != "" {
		return trainer.Task{}, usagef("train: a unified model (--init %s) draws its own reward's images in the world: --reward-url and --images do not apply", c.Init)
	}
	return trainer.Task{Source: task.Source{World: world.DefaultConfig()}, Judge: task.Judge{},
		Load: unifiedLoader(c), About: "world scenes (unified model: caption, then redraw with itself)"}, nil
}

// unifiedEvalTask wires Unified-Bench of unified checkpoints: each is scored with its own
// drawings, and probed for question answering and drawing from the world's prompts.
func unifiedEvalTask(dev gotch.Device, guidance float64, benchmark bool) eval.Task {
	load := func(path string) (eval.Captioner, func(), error) {
		o := unified.DefaultOptions()
		o.Frozen, o.Guidance = true, guidance
		p, err := unified.Open(modelDir(path), dev, o)
		if err != nil {
			return nil, nil, err
		}
		return p, p.Close, nil
	}
	return eval.Task{Source: task.Source{World: world.DefaultConfig(), Benchmark: benchmark}, Judge: task.Judge{}, Load: load, Name: "world"}
}

// checkUnifiedMix reports a mix of unified and other checkpoints in one benchmark, whose rows
// would not be comparable (a unified model is scored with its own drawings).
func checkUnifiedMix(paths []string) (bool, error) {
	n := 0
	for _, p := range paths {
		if isUnified(p) {
			n++
		}
	}
	if n > 0 && n < len(paths) {
		return false, usagef("eval: give only unified-model runs or only captioner runs in one benchmark (their rows use different decoders)")
	}
	return n > 0, nil
}
