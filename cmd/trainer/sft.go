package main

import (
	"fmt"
	"os"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/progress"
	"github.com/unigrpo/unigrpo/launch"
	"github.com/unigrpo/unigrpo/models/captioner"
	"github.com/unigrpo/unigrpo/models/unified"
	"github.com/unigrpo/unigrpo/trainer"
	"github.com/unigrpo/unigrpo/world"
	worldtask "github.com/unigrpo/unigrpo/world/task"
)

// sftRun is the whole configuration of an SFT run on the world, as config.json records it: the
// trainer's settings beside the world's, the partial captions' recipe and the model's shape.
type sftRun struct {
	trainer.SFTConfig
	Partial world.PartialOptions `json:"partial"` // how incomplete the captions are
	World   world.Config         `json:"world"`
	Model   captioner.Config     `json:"model"`
}

func runSFT(args []string) error {
	c := sftRun{SFTConfig: trainer.DefaultSFTConfig(), Partial: world.DefaultPartialOptions(), World: world.DefaultConfig(), Model: captioner.DefaultConfig()}
	fs := newFlags("sft", "--out DIR [flags]")
	addRunFlags(fs, &c.RunConfig, "optimizer steps")
	fs.IntVar(&c.DecaySteps, "decay-steps", c.DecaySteps, "steps the cosine learning-rate schedule spans (0: --steps); fewer --steps with a longer run's --decay-steps repeat that run's first steps")
	fs.IntVar(&c.Captions, "captions", c.Captions, "partial captions per scene (they share the scene's image encoding)")
	fs.Float64Var(&c.Partial.StopProb, "stop-prob", c.Partial.StopProb, "probability of ending the caption after each object")
	fs.Float64Var(&c.Partial.DropSize, "drop-size", c.Partial.DropSize, "probability of leaving an object's size out")
	fs.Float64Var(&c.Partial.DropColor, "drop-color", c.Partial.DropColor, "probability of leaving an object's colour out")
	fs.Float64Var(&c.Partial.DropShape, "drop-shape", c.Partial.DropShape, "probability of leaving an object's shape out")
	fs.Float64Var(&c.Partial.DropPosition, "drop-position", c.Partial.DropPosition, "probability of leaving an object's position out")
	fs.Float64Var(&c.Partial.DropBackground, "drop-background", c.Partial.DropBackground, "probability of leaving the background out")
	fs.IntVar(&c.Model.Dim, "dim", c.Model.Dim, "width of the language model")
	fs.IntVar(&c.Model.Layers, "layers", c.Model.Layers, "transformer blocks of the language model")
	fs.IntVar(&c.Model.Heads, "heads", c.Model.Heads, "attention heads of the language model (must divide --dim)")
	place := placementFlags(fs, "libtorch threads per process (1 is fastest for this small model)")
	tb := tensorboardFlag(fs)
	u := unifiedSFT{DrawFull: unified.DefaultData().DrawFull, EmptyDraw: unified.DefaultData().EmptyDraw,
		Guidance: unified.DefaultOptions().Guidance, MaxLen: unified.DefaultOptions().MaxLen, Model: unified.TinyShape()}
	stage := fs.String("unified", "", "train the unified model (UMM-2, Janus layout) instead of the captioner: vq (its image tokenizer, from scratch) or model (caption, answer and draw, from --init)")
	fs.StringVar(&u.Init, "init", "", "with --unified model: the run of --unified vq to start from")
	fs.Float64Var(&u.DrawFull, "draw-full", u.DrawFull, "with --unified model: share of drawing examples whose prompt is the full description (the others partial)")
	fs.Float64Var(&u.EmptyDraw, "empty-draw", u.EmptyDraw, "with --unified model: share of drawing examples with an empty prompt (the unconditional branch of guidance)")
	fs.IntVar(&u.Model.Channels, "vq-channels", u.Model.Channels, "with --unified vq: the VQ-VAE's base channels (a multiple of 32)")
	fs.IntVar(&u.Model.Codebook, "codebook", u.Model.Codebook, "with --unified vq: codes in the VQ-VAE's codebook")
	if err := parse(fs, args); err != nil {
		return err
	}
	if c.Out == "" {
		return usagef("sft: --out is required")
	}
	if n := os.Getenv(launch.EnvRestartCount); n != "" && n != "0" {
		c.Force = true // restarted by launch --max-restarts: SFT starts again, the failed attempt's files moved aside
	}
	if *stage == "" && fs.Changed("init") {
		return usagef("sft: --init is for --unified model (the run of --unified vq it starts from); the captioner's SFT starts from scratch: drop --init")
	}
	var task trainer.SFTTask
	var err error
	if *stage != "" {
		u.SFTConfig, u.Stage, u.Partial = c.SFTConfig, unified.Stage(*stage), c.Partial
		if !fs.Changed("captions") {
			u.Captions = 3 // one example of each task per scene
		}
		task, err = unifiedSFTTask(&u)
		c.SFTConfig = u.SFTConfig
	} else {
		task, err = sftTask(&c)
	}
	if err != nil {
		return err
	}
	d, cleanup, err := connect(place, c.Device)
	if err != nil {
		return err
	}
	defer cleanup()
	if task.Files, err = runConfig(fs); err != nil {
		return err
	}
	obs, closeTB, err := withTensorBoard(progress.New(os.Stdout, c.LogEvery, "loss", "grad_norm", "eval_object_recall"), tensorboardDir(*tb, c.Out), d.Rank())
	if err != nil {
		return err
	}
	err = trainer.SFT(c.SFTConfig, task, d, obs)
	if cerr := closeTB(); err == nil {
		err = cerr
	}
	return err
}

// sftTask wires supervised training on the world's partial captions; c's model shape is
// completed with the world's vocabulary and image size.
func sftTask(c *sftRun) (trainer.SFTTask, error) {
	if err := c.Partial.Validate(); err != nil {
		return trainer.SFTTask{}, trainer.ConfigError{Err: err}
	}
	if err := c.World.Validate(); err != nil {
		return trainer.SFTTask{}, trainer.ConfigError{Err: err}
	}
	c.Model.Vocab, c.Model.ImageSize = world.NewVocab().V(), c.World.Size
	if err := c.Model.Validate(); err != nil {
		return trainer.SFTTask{}, trainer.ConfigError{Err: fmt.Errorf("model (--dim, --layers, --heads): %w", err)}
	}
	rw, err := worldtask.NewReward(c.World, "all")
	if err != nil {
		return trainer.SFTTask{}, err
	}
	model := c.Model
	return trainer.SFTTask{
		Data:   worldtask.Partial{Source: worldtask.Source{World: c.World}, Options: c.Partial},
		Reward: rw, Judge: worldtask.Judge{}, Config: c,
		New: func(dev gotch.Device, seed uint64) (trainer.SupervisedPolicy, error) {
			return captioner.New(model, dev, seed)
		},
	}, nil
}
