package trainer

import "fmt"

// The seeds of the held-out scenes. A run evaluates while it trains on validation scenes drawn
// with ValSeed (--val-seed), and `trainer eval` benchmarks on scenes drawn with BenchmarkSeed:
// choices made by watching a run are never made on the benchmark. In the world the two sets come
// from disjoint splits of the scene descriptions as well (world.SplitOf), so they differ
// whatever the seeds, and training never sees a description of either.
const (
	ValSeed       = 20260214
	BenchmarkSeed = 20251125
)

// RunConfig is what every training run shares, supervised or GRPO: its folder, length and batch,
// the optimizer, the seeds, and how often it evaluates, checkpoints, logs, plots and checks.
// SFTConfig and GRPOConfig embed it, so its fields sit beside theirs in config.json.
type RunConfig struct {
	Out         string  `json:"out"`          // run folder
	Steps       int     `json:"steps"`        // optimizer steps (GRPO: rollouts, each with mu updates)
	Batch       int     `json:"batch"`        // B: images per step over all ranks
	LR          float64 `json:"lr"`           // AdamW (peak) learning rate
	Warmup      int     `json:"warmup"`       // linear warmup steps
	WeightDecay float64 `json:"weight_decay"` // AdamW decoupled decay on the parameters that take it
	ClipNorm    float64 `json:"clip_norm"`    // global gradient-norm clip (0: off)
	Seed        uint64  `json:"seed"`         // keys every random stream of the run
	EvalEvery   int     `json:"eval_every"`   // held-out evaluation interval (0: only at the end)
	EvalScenes  int     `json:"eval_scenes"`  // held-out images per evaluation (0: no evaluation)
	ValSeed     uint64  `json:"val_seed"`     // seed of the validation images evaluated on (shared by all runs)
	CkptEvery   int     `json:"ckpt_every"`   // checkpoint interval (0: only at the end)
	Keep        int     `json:"keep"`         // checkpoints kept
	LogEvery    int     `json:"log_every"`    // metrics flush and progress interval (0: only at the end)
	PlotEvery   int     `json:"plot_every"`   // plot redraw interval (0: only at the end)
	CheckEvery  int     `json:"check_every"`  // weight checksums compared over ranks (0: never)
	Device      string  `json:"device"`       // cpu, cuda or auto
	// MonitorInterval is the seconds between device readings (0: no monitor).
	MonitorInterval float64 `json:"monitor_interval"`
	// Force lets a new run start in a non-empty Out, moving its files into a subfolder; not
	// recorded (a resumed run is never new).
	Force bool `json:"-"`
}

// intervals are the run's bookkeeping intervals.
func (c RunConfig) intervals() Intervals {
	return Intervals{Log: c.LogEvery, Eval: c.EvalEvery, Ckpt: c.CkptEvery, Plot: c.PlotEvery, Check: c.CheckEvery, Keep: c.Keep}
}

// validate checks the shared fields; what names the batch's items ("scenes") goes in messages.
func (c RunConfig) validate(worldSize int) error {
	switch {
	case c.Out == "":
		return fmt.Errorf("--out is required: the run folder to write")
	case c.Steps < 1:
		return fmt.Errorf("--steps %d: must be at least 1", c.Steps)
	case c.Batch < 1:
		return fmt.Errorf("--batch %d: must be at least 1", c.Batch)
	case !(c.LR > 0):
		return fmt.Errorf("--lr %v: must be positive", c.LR)
	case c.Warmup < 0 || c.ClipNorm < 0 || c.WeightDecay < 0 || c.EvalScenes < 0 || c.Keep < 0:
		return fmt.Errorf("--warmup, --clip, --weight-decay, --eval-scenes and --keep must not be negative")
	case c.EvalEvery < 0 || c.CkptEvery < 0 || c.LogEvery < 0 || c.PlotEvery < 0 || c.CheckEvery < 0:
		return fmt.Errorf("--eval-every, --ckpt-every, --log-every, --plot-every and --check-every must not be negative")
	case c.EvalScenes > 0 && c.ValSeed == BenchmarkSeed:
		return fmt.Errorf("--val-seed %d is the benchmark's seed: choices made while training must not see the benchmark's scenes; use another (default %d)", c.ValSeed, uint64(ValSeed))
	case c.MonitorInterval < 0:
		return fmt.Errorf("--monitor-interval %v: must not be negative", c.MonitorInterval)
	}
	return CheckDivisible("--batch", c.Batch, worldSize)
}
