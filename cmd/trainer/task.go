package main

import (
	"fmt"
	"time"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/eval"
	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/models/captioner"
	"github.com/unigrpo/unigrpo/models/hf/vit"
	"github.com/unigrpo/unigrpo/reward"
	"github.com/unigrpo/unigrpo/trainer"
	"github.com/unigrpo/unigrpo/world"
	"github.com/unigrpo/unigrpo/world/task"
)

// This file wires the concrete pieces into the trainer's and the benchmark's seams: the world's
// captioner as the policy, the world's scenes or a folder of files as the source, the world's
// renderer and embedders (or a reward service) as the reward, and the world's object matching as
// the judge.

// The world's captioner is a policy of the trainer and a captioner of the benchmark.
var (
	_ trainer.SupervisedPolicy = (*captioner.Model)(nil)
	_ trainer.Source           = task.Source{}
	_ trainer.Source           = (*images.Folder)(nil)
	_ trainer.Supervised       = task.Partial{}
	_ eval.ItemJudge           = task.Judge{}
)

// loadPolicy opens a captioner checkpoint on dev with the parts o says train.
func loadPolicy(path string, dev gotch.Device, o trainer.LoadOptions) (trainer.Policy, error) {
	m, err := captioner.LoadTrainable(path, dev, o.TrainVision, !o.Frozen)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return m, nil
}

// inputSize is the side of the square images a checkpoint's policy reads.
func inputSize(path string) (int, error) {
	file, err := trainer.ResolveModel(path)
	if err != nil {
		return 0, err
	}
	cfg, _, err := captioner.ReadConfig(file)
	if err != nil {
		return 0, err
	}
	return cfg.ImageSize, nil
}

// source is the world's scenes, or the files of a folder or manifest fitted to size x size.
// Files over maxPixels pixels are refused (0: images.DefaultMaxPixels).
func source(path string, heldOut float64, size int, skipBad bool, maxPixels int) (trainer.Source, string, error) {
	if path == "" {
		return task.Source{World: world.DefaultConfig()}, "world scenes", nil
	}
	f, err := images.OpenFolder(path, heldOut, size, skipBad, maxPixels)
	if err != nil {
		return nil, "", fmt.Errorf("--images: %w", err)
	}
	train, held := f.Sizes()
	return f, fmt.Sprintf("%s (%d for training, %d held out)", path, train, held), nil
}

// rewardFor is the pool of reward services urls names, or the world's renderer and the embedders
// named in names run in this process, its Hugging Face encoders as enc says.
func rewardFor(urls rewardURLs, names string, timeout time.Duration, hidden bool, rank int, enc vit.EmbedderOptions) (reward.Reward, error) {
	if len(urls) > 0 {
		p, err := dialServices(urls, timeout, hidden, rank)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return p, nil
	}
	r, err := task.NewRewardWith(world.DefaultConfig(), names, enc)
	if err != nil {
		return nil, usagef("--reward %s: %v", names, err)
	}
	return r, nil
}

// grpoTask wires a GRPO run.
func grpoTask(c trainConfig, timeout time.Duration, hidden bool, rank int, enc vit.EmbedderOptions) (trainer.Task, error) {
	if c.LoRARank != 0 {
		if _, typ := modelType(c.Init); typ != "qwen2" && typ != "llama" && typ != "qwen2_5_vl" {
			return trainer.Task{}, usagef("--lora-rank: LoRA applies to Hugging Face language models (qwen2, llama) and Qwen2.5-VL's language model (qwen2_5_vl); --init %s is none of them", c.Init)
		}
	}
	if isUnified(c.Init) {
		if c.Unstated != "" && c.Unstated != "prior" {
			return trainer.Task{}, usagef("--reward-unstated %s: a unified model redraws its captions itself; the option applies to the world's decoder", c.Unstated)
		}
		return unifiedGRPOTask(c)
	}
	if c.Joint {
		return trainer.Task{}, usagef("train --joint: --init %s is not a unified model (a run of `trainer sft --unified model`); only a model that draws its own reward's images has a drawing direction to optimise", c.Init)
	}
	load, size, fitted := loadPolicy, 0, ""
	maxLen := c.MaxLen
	if maxLen == 0 {
		maxLen = 64
	}
	if err := damagedConfig(c.Init); err != nil {
		return trainer.Task{}, usagef("--init %s: %v", c.Init, err)
	}
	if dir, typ := modelType(c.Init); typ == "qwen2_5_vl" {
		// A vision-language model captions the images themselves: a folder's images are fitted to
		// --image-size, or by default to the side its processor reads at 256 image tokens.
		kind, err := parseDType(c.DType)
		if err != nil {
			return trainer.Task{}, err
		}
		if size, fitted, err = vlImageSize(dir, c.ImageSize); err != nil {
			return trainer.Task{}, fmt.Errorf("--init %s: %w", c.Init, err)
		}
		lora, err := c.loraSettings.config()
		if err != nil {
			return trainer.Task{}, err
		}
		load = qwenVLLoader(c.Prompt, kind, size, maxLen, lora, c.Seed)
	} else if dir != "" {
		// A Hugging Face language model: text-prompted, it reads no image; sources are fitted to
		// the world's size for the reward.
		kind, err := parseDType(c.DType)
		if err != nil {
			return trainer.Task{}, err
		}
		h, err := openHFText(dir, c.Prompt, c.Chat)
		if err != nil {
			return trainer.Task{}, fmt.Errorf("--init %s: %w", c.Init, err)
		}
		lora, err := c.loraSettings.config()
		if err != nil {
			return trainer.Task{}, err
		}
		load, size = hfPolicyLoader(h, kind, maxLen, lora, c.Seed), world.DefaultConfig().Size
	} else {
		var err error
		if size, err = inputSize(c.Init); err != nil {
			return trainer.Task{}, fmt.Errorf("--init: %w", err)
		}
	}
	src, about, err := source(c.Images, c.ImagesHeld, size, c.SkipBad, c.MaxPixels)
	if err != nil {
		return trainer.Task{}, err
	}
	if c.Images != "" && fitted != "" {
		about += fmt.Sprintf(", fitted to %d px (%s)", size, fitted)
	}
	rw, err := rewardFor(c.RewardURL, c.Reward, timeout, hidden, rank, enc)
	if err != nil {
		return trainer.Task{}, err
	}
	if wr, ok := rw.(*task.Reward); ok {
		u, err := world.ParseUnstated(c.Unstated)
		if err != nil {
			return trainer.Task{}, usagef("--reward-unstated: %v", err)
		}
		wr.SetUnstated(u)
	}
	return trainer.Task{Source: src, Reward: rw, Judge: task.Judge{}, Load: load, About: about}, nil
}

// evalTask wires Unified-Bench of checkpoints: the world's held-out scenes (the benchmark's
// split, or the validation's) or a folder's held-out split fitted to the first checkpoint's
// input, the world's reward and judge.
func evalTask(imgs string, held float64, maxPixels int, ckpts []eval.Checkpoint, benchmark bool, dev gotch.Device) (eval.Task, error) {
	size, err := inputSize(ckpts[0].Path)
	if err != nil {
		return eval.Task{}, fmt.Errorf("--ckpt %s: %w", ckpts[0].Path, err)
	}
	src, _, err := source(imgs, held, size, false, maxPixels)
	if err != nil {
		return eval.Task{}, err
	}
	if ws, ok := src.(task.Source); ok {
		ws.Benchmark = benchmark
		src = ws
	}
	name := "world"
	if imgs != "" {
		name = imgs
	}
	rw, err := task.NewReward(world.DefaultConfig(), "all")
	if err != nil {
		return eval.Task{}, err
	}
	load := func(path string) (eval.Captioner, func(), error) {
		m, err := loadPolicy(path, dev, trainer.LoadOptions{Frozen: true})
		if err != nil {
			return nil, nil, err
		}
		return m, m.Close, nil
	}
	return eval.Task{Source: src, Reward: rw, Judge: task.Judge{}, Load: load, Name: name}, nil
}
