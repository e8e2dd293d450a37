package trainer

import (
	"fmt"
	"os"
)

// GRPOConfig configures Unified-GRPO. Defaults are scaled for the small world model; the paper's
// settings for a 7B-scale unified model are given beside each (section 4 of the paper).
type GRPOConfig struct {
	Init        string  `json:"init"`                      // starting checkpoint (file, checkpoint folder or run folder)
	Out         string  `json:"out"`                       // run folder
	Steps       int     `json:"steps"`                     // GRPO steps (rollout + mu updates each)
	Batch       int     `json:"batch"`                     // B: scenes per step over all ranks      (paper: 1 image)
	Group       int     `json:"group"`                     // G: captions sampled per scene           (paper: 4)
	LR          float64 `json:"lr"`                        // AdamW learning rate                     (paper: 1e-6)
	Warmup      int     `json:"warmup"`                    // linear warmup steps
	WeightDecay float64 `json:"weight_decay"`              // AdamW weight decay
	ClipNorm    float64 `json:"clip_norm"`                 // global gradient-norm clip (0: off)
	Beta        float64 `json:"beta"`                      // k3 KL weight to the reference policy    (paper: 1e-6)
	Temperature float64 `json:"temperature"`               // sampling temperature                    (paper: 1.0)
	TopK        int     `json:"top_k"`                     // sample among the k most likely tokens (0: all)
	MaxLen      int     `json:"max_len"`                   // most caption tokens sampled, EOS included (0: the model's)
	MinLen      int     `json:"min_len,omitempty"`         // EOS is not sampled before this many tokens (0: off; benchmarks)
	EpsLow      float64 `json:"eps_low"`                   // ratio clip below, 1-EpsLow
	EpsHigh     float64 `json:"eps_high"`                  // ratio clip above, 1+EpsHigh
	LossAgg     LossAgg `json:"loss_agg"`                  // seq-mean-token-mean (paper), token-mean, dr-grpo
	ScaleStd    bool    `json:"scale_std"`                 // divide advantages by the group std (false: Dr. GRPO)
	Mu          int     `json:"mu"`                        // policy updates per rollout
	Reward      string  `json:"reward"`                    // embedders whose mean cosine is the reward, or "all"
	TrainVision bool    `json:"train_vision"`              // train the vision encoder too (the paper keeps it frozen)
	Images      string  `json:"images,omitempty"`          // folder or manifest of source images instead of the world's scenes
	ImagesHeld  float64 `json:"images_held_out,omitempty"` // share of --images kept out of training (by a hash of each name)
	Seed        uint64  `json:"seed"`                      // keys every random stream of the run
	EvalEvery   int     `json:"eval_every"`                // held-out evaluation interval (0: only at the end)
	EvalScenes  int     `json:"eval_scenes"`               // held-out scenes per evaluation
	EvalSeed    uint64  `json:"eval_seed"`                 // seed of the held-out scenes (shared by all runs)
	CkptEvery   int     `json:"ckpt_every"`                // checkpoint interval (0: only at the end)
	Keep        int     `json:"keep"`                      // checkpoints kept
	LogEvery    int     `json:"log_every"`                 // metrics flush interval
	PlotEvery   int     `json:"plot_every"`                // redraw plots every N steps (0: only at the end)
	CheckEvery  int     `json:"check_every"`               // compare weight checksums over ranks every N steps
	Device      string  `json:"device"`                    // cpu, cuda or auto
	// MonitorInterval is the seconds between device readings (0: no monitor).
	MonitorInterval float64 `json:"monitor_interval"`
}

// DefaultGRPOConfig returns the defaults of `trainer train`.
func DefaultGRPOConfig() GRPOConfig {
	return GRPOConfig{
		Steps: 300, Batch: 8, Group: 8, LR: 5e-5, Warmup: 10, WeightDecay: 0, ClipNorm: 1, Beta: 0.2,
		Temperature: 1, EpsLow: 0.2, EpsHigh: 0.2, LossAgg: SeqMeanTokenMean, ScaleStd: true, Mu: 1,
		Reward: "all", Seed: 1, EvalEvery: 50, EvalScenes: 100, EvalSeed: 20251125, CkptEvery: 50, Keep: 3,
		LogEvery: 5, PlotEvery: 25, CheckEvery: 50, Device: "cpu", MonitorInterval: 2, ImagesHeld: 0.1,
	}
}

// Validate checks every value before any work starts.
func (c GRPOConfig) Validate(worldSize int) error {
	if err := c.validate(worldSize); err != nil {
		return ConfigError{err}
	}
	return nil
}

func (c GRPOConfig) validate(worldSize int) error {
	switch {
	case c.Out == "":
		return fmt.Errorf("--out is required: the run folder to write")
	case c.Init == "":
		return fmt.Errorf("--init is required: the checkpoint to start from (e.g. the SFT run folder)")
	case c.Steps < 1:
		return fmt.Errorf("--steps %d: must be at least 1", c.Steps)
	case c.Batch < 1:
		return fmt.Errorf("--batch %d: GRPO needs at least one scene per step", c.Batch)
	case !(c.ImagesHeld >= 0 && c.ImagesHeld < 1):
		return fmt.Errorf("--images-held-out %v: must be in [0, 1)", c.ImagesHeld)
	case c.Images != "" && !exists(c.Images):
		return fmt.Errorf("--images %s: no such folder or manifest", c.Images)
	case c.Group < 2:
		return fmt.Errorf("--group %d: GRPO needs at least 2 samples per scene to compare them", c.Group)
	case !(c.Temperature > 0):
		return fmt.Errorf("--temperature %v: must be positive", c.Temperature)
	case !(c.EpsLow > 0 && c.EpsLow < 1) || !(c.EpsHigh > 0 && c.EpsHigh < 1):
		return fmt.Errorf("--eps-low %v / --eps-high %v: must be in (0, 1)", c.EpsLow, c.EpsHigh)
	case !(c.LR > 0):
		return fmt.Errorf("--lr %v: must be positive", c.LR)
	case c.Beta < 0:
		return fmt.Errorf("--beta %v: must not be negative", c.Beta)
	case c.Mu < 1:
		return fmt.Errorf("--mu %d: must be at least 1", c.Mu)
	case c.TopK < 0 || c.MaxLen < 0 || c.MinLen < 0 || c.Warmup < 0 || c.ClipNorm < 0 || c.EvalScenes < 0 || c.Keep < 0:
		return fmt.Errorf("--top-k, --max-len, --min-len, --warmup, --clip, --eval-scenes and --keep must not be negative")
	}
	if _, err := ParseLossAgg(string(c.LossAgg)); err != nil {
		return fmt.Errorf("--loss-agg: %w", err)
	}
	if _, err := os.Stat(c.Init); err != nil {
		return fmt.Errorf("--init %s: %w", c.Init, err)
	}
	return CheckDivisible("--batch", c.Batch, worldSize)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
