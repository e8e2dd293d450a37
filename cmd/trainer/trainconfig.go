package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/trainer"
	"github.com/unigrpo/unigrpo/world"
)

// trainConfig is the whole configuration of `trainer train`, as config.json and the checkpoints
// record it: the loop's GRPOConfig and the settings only this command reads, which say what the
// task is (the images, the reward, the policy's family). --resume reads it back.
type trainConfig struct {
	trainer.GRPOConfig
	Reward     string     `json:"reward"`                     // embedders whose mean cosine is the reward, or "all"
	RewardURL  rewardURLs `json:"reward_url,omitempty"`       // reward services (trainer serve-reward), or files listing them, instead of the in-process reward
	Images     string     `json:"images,omitempty"`           // folder or manifest of source images instead of the world's scenes
	ImagesHeld float64    `json:"images_held_out,omitempty"`  // share of --images kept out of training (by a hash of each name)
	SkipBad    bool       `json:"skip_bad_images,omitempty"`  // skip (and count) unreadable --images files instead of stopping
	MaxPixels  int        `json:"max_image_pixels,omitempty"` // pixel budget of one --images file (0: images.DefaultMaxPixels)
	// How the in-process world decoder draws an object the caption states in part: "prior" (its
	// missing attributes at random; "" is the same) or "omit" (left out of the picture).
	Unstated string `json:"reward_unstated,omitempty"`
	// Where the reward's Hugging Face encoders run: RewardDevice ("" for the rank's device) with
	// RewardBatch images a forward pass (0: vit.DefaultMaxBatch).
	RewardDevice string `json:"reward_device,omitempty"`
	RewardBatch  int    `json:"reward_batch,omitempty"`
	// For a Hugging Face language model as the policy (--init DIR of a llama or qwen2 folder):
	Prompt string `json:"prompt,omitempty"` // the text-only prompt every caption continues
	Chat   bool   `json:"chat,omitempty"`   // wrap Prompt in the family's chat format
	DType  string `json:"dtype,omitempty"`  // float32 or bfloat16
	// ImageSize is the side --images files are fitted to for a vision-language policy (Qwen2.5-VL,
	// whose processor then resizes them to its own patch grid); 0: the processor's default
	// (qwenvl.ImageProcessor.DefaultSide: 448 px for Qwen2.5-VL).
	ImageSize int `json:"image_size,omitempty"`
	// For a unified model as the policy (--init of a `trainer sft --unified model` run), which
	// redraws each image from its caption itself:
	Guidance        float64 `json:"guidance,omitempty"`         // classifier-free guidance scale of its drawings
	DrawTemperature float64 `json:"draw_temperature,omitempty"` // temperature of the image codes it draws (0: greedy)
	// LoRA adapters instead of full fine-tuning, for a Hugging Face language model (lora.go).
	loraSettings
}

// defaultTrainConfig returns the defaults of `trainer train`.
func defaultTrainConfig() trainConfig {
	return trainConfig{GRPOConfig: trainer.DefaultGRPOConfig(), Reward: "all", Unstated: "prior", ImagesHeld: 0.1, Guidance: 3,
		MaxPixels: images.DefaultMaxPixels, Prompt: "Describe this image in detail.", Chat: true, DType: "float32"}
}

// sameSettings checks that the flags given with --resume (given, parsed) change none of the
// settings the run records (saved, its config.json) but --steps: they are the run's, and a flag
// that would silently not apply is an error naming it. Each given flag is tried alone on the
// saved settings; a flag equal to the run's value (a restarted worker's command line) passes.
func sameSettings(saved trainConfig, given *pflag.FlagSet) error {
	want, err := json.Marshal(saved)
	if err != nil {
		return err
	}
	var changed []string
	var failed error
	given.Visit(func(f *pflag.Flag) {
		if f.Name == "steps" || f.Name == "out" || f.Name == "resume" || failed != nil {
			return
		}
		probe := saved
		pt := newTrainFlags(&probe)
		to := pt.fs.Lookup(f.Name)
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			failed = to.Value.(pflag.SliceValue).Replace(sv.GetSlice())
		} else {
			failed = to.Value.Set(f.Value.String())
		}
		if f.Name == "loss-agg" {
			probe.LossAgg = trainer.LossAgg(*pt.agg)
		}
		probe.Out = saved.Out // --out's flag default is empty; the folder is --resume's
		got, err := json.Marshal(probe)
		if failed == nil && err == nil && string(got) != string(want) {
			changed = append(changed, "--"+f.Name)
		}
	})
	if failed != nil {
		return failed
	}
	if len(changed) > 0 {
		return usagef("train --resume %s: a resumed run keeps the settings of its config.json, and %s would change them: "+
			"drop them (only --steps may change), or start a new run from its checkpoint (--init %s --out NEW)",
			saved.Out, strings.Join(changed, ", "), saved.Out)
	}
	return nil
}

// validate checks every value before any work starts: the loop's, then the task's.
func (c trainConfig) validate(worldSize int) error {
	if err := c.GRPOConfig.Validate(worldSize); err != nil {
		return err
	}
	if _, err := c.loraSettings.config(); err != nil {
		return err
	}
	_, err := world.ParseUnstated(c.Unstated)
	if err != nil {
		return trainer.ConfigError{Err: fmt.Errorf("--reward-unstated: %w", err)}
	}
	switch {
	case !(c.ImagesHeld >= 0 && c.ImagesHeld < 1):
		err = fmt.Errorf("--images-held-out %v: must be in [0, 1)", c.ImagesHeld)
	case c.Images != "" && !exists(c.Images):
		err = fmt.Errorf("--images %s: no such folder or manifest", c.Images)
	case checkRewardDevice(c.RewardDevice, c.RewardBatch) != nil:
		err = checkRewardDevice(c.RewardDevice, c.RewardBatch)
	case c.Unstated != "" && c.Unstated != "prior" && len(c.RewardURL) > 0:
		err = fmt.Errorf("--reward-unstated %s: applies to the in-process world decoder, not to --reward-url services", c.Unstated)
	case c.Joint && !(c.DrawTemperature > 0):
		err = fmt.Errorf("--joint needs --draw-temperature > 0: the policy gradient of the drawn image codes needs them sampled, not greedy")
	}
	if err != nil {
		return trainer.ConfigError{Err: err}
	}
	return nil
}

// exists reports whether path names a file or folder.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
