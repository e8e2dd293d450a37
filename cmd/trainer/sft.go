package main

import (
	"os"

	"github.com/unigrpo/unigrpo/internal/progress"
	"github.com/unigrpo/unigrpo/trainer"
)

func runSFT(args []string) error {
	c := trainer.DefaultSFTConfig()
	fs := newFlags("sft", "--out DIR [flags]")
	fs.StringVar(&c.Out, "out", "", "run folder to write (config.json, metrics.jsonl, eval.json, checkpoints/)")
	fs.IntVar(&c.Steps, "steps", c.Steps, "optimizer steps")
	fs.IntVar(&c.Batch, "batch", c.Batch, "scenes per step over all ranks")
	fs.IntVar(&c.Captions, "captions", c.Captions, "partial captions per scene (they share the scene's image encoding)")
	fs.Float64Var(&c.LR, "lr", c.LR, "peak learning rate (cosine decay after warmup)")
	fs.IntVar(&c.Warmup, "warmup", c.Warmup, "linear warmup steps")
	fs.Float64Var(&c.WeightDecay, "weight-decay", c.WeightDecay, "AdamW weight decay")
	fs.Float64Var(&c.ClipNorm, "clip", c.ClipNorm, "global gradient-norm clip (0 turns it off)")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed of every random stream of the run")
	fs.IntVar(&c.EvalEvery, "eval-every", c.EvalEvery, "held-out evaluation every N steps (and at the end)")
	fs.IntVar(&c.EvalScenes, "eval-scenes", c.EvalScenes, "held-out scenes per evaluation")
	fs.IntVar(&c.CkptEvery, "ckpt-every", c.CkptEvery, "checkpoint every N steps (and at the end)")
	fs.IntVar(&c.Keep, "keep", c.Keep, "checkpoints to keep")
	fs.IntVar(&c.LogEvery, "log-every", c.LogEvery, "flush metrics and print a line every N steps")
	fs.Float64Var(&c.Partial.StopProb, "stop-prob", c.Partial.StopProb, "probability of ending the caption after each object")
	fs.Float64Var(&c.Partial.DropSize, "drop-size", c.Partial.DropSize, "probability of leaving an object's size out")
	fs.Float64Var(&c.Partial.DropColor, "drop-color", c.Partial.DropColor, "probability of leaving an object's colour out")
	fs.Float64Var(&c.Partial.DropShape, "drop-shape", c.Partial.DropShape, "probability of leaving an object's shape out")
	fs.Float64Var(&c.Partial.DropPosition, "drop-position", c.Partial.DropPosition, "probability of leaving an object's position out")
	fs.Float64Var(&c.Partial.DropBackground, "drop-background", c.Partial.DropBackground, "probability of leaving the background out")
	fs.StringVar(&c.Device, "device", c.Device, "cpu, cuda (GPU LOCAL_RANK) or auto")
	fs.Float64Var(&c.MonitorInterval, "monitor-interval", c.MonitorInterval, "seconds between device readings (GPU via NVML, else CPU and memory); 0 turns it off")
	fs.IntVar(&c.Model.Dim, "dim", c.Model.Dim, "width of the language model")
	fs.IntVar(&c.Model.Layers, "layers", c.Model.Layers, "transformer blocks of the language model")
	fs.IntVar(&c.Model.Heads, "heads", c.Model.Heads, "attention heads of the language model (must divide --dim)")
	threads := fs.Int("threads", 1, "libtorch threads per process (1 is fastest for this small model)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if c.Out == "" {
		return usagef("sft: --out is required")
	}
	d, cleanup, err := connect(*threads, c.Device)
	if err != nil {
		return err
	}
	defer cleanup()
	return trainer.SFT(c, d, progress.New(os.Stdout, c.LogEvery, "loss", "grad_norm", "eval_object_recall"))
}
