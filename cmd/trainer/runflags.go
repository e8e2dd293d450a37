package main

import (
	"github.com/spf13/pflag"

	"github.com/unigrpo/unigrpo/trainer"
)

// addRunFlags declares the flags every training command shares (trainer.RunConfig), with c's
// values as defaults; steps says what a step is.
func addRunFlags(fs *pflag.FlagSet, c *trainer.RunConfig, steps string) {
	fs.StringVar(&c.Out, "out", "", "run folder to write (config.json, metrics.jsonl, plots/, checkpoints/, log.txt); it must be empty or new (see --force, --resume)")
	fs.BoolVar(&c.Force, "force", false, "start a new run in a non-empty --out: its files are moved into a subfolder replaced-TIME, never deleted")
	fs.IntVar(&c.Steps, "steps", c.Steps, steps)
	fs.IntVarP(&c.Batch, "batch", "B", c.Batch, "images per step over all ranks")
	fs.Float64Var(&c.LR, "lr", c.LR, "AdamW (peak) learning rate")
	fs.IntVar(&c.Warmup, "warmup", c.Warmup, "linear warmup steps")
	fs.Float64Var(&c.WeightDecay, "weight-decay", c.WeightDecay, "AdamW weight decay (matrices only)")
	fs.Float64Var(&c.ClipNorm, "clip", c.ClipNorm, "global gradient-norm clip (0 turns it off)")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed of every random stream of the run")
	fs.IntVar(&c.EvalEvery, "eval-every", c.EvalEvery, "held-out evaluation every N steps (0: only at the end)")
	fs.IntVar(&c.EvalScenes, "eval-scenes", c.EvalScenes, "held-out images per evaluation (0: no evaluation)")
	fs.Uint64Var(&c.ValSeed, "val-seed", c.ValSeed, "seed of the validation images evaluated on during training (the world's validation split; never the benchmark's seed)")
	fs.IntVar(&c.CkptEvery, "ckpt-every", c.CkptEvery, "checkpoint every N steps (0: only at the end)")
	fs.IntVar(&c.Keep, "keep", c.Keep, "checkpoints to keep")
	fs.IntVar(&c.LogEvery, "log-every", c.LogEvery, "flush metrics and print a line every N steps (0: only at the end)")
	fs.IntVar(&c.PlotEvery, "plot-every", c.PlotEvery, "redraw plots every N steps (0: only at the end)")
	fs.IntVar(&c.CheckEvery, "check-every", c.CheckEvery, "compare weight checksums over ranks every N steps (0: never)")
	fs.StringVar(&c.Device, "device", c.Device, "cpu, cuda (GPU LOCAL_RANK) or auto")
	fs.Float64Var(&c.MonitorInterval, "monitor-interval", c.MonitorInterval, "seconds between device readings (GPU via NVML, else CPU and memory); 0 turns it off")
}
