package trainer

import (
	"fmt"
	"os"

	"github.com/unigrpo/unigrpo/models/policy"
)

// GRPOConfig configures Unified-GRPO. Defaults are scaled for the small world model; the paper's
// settings for a 7B-scale unified model are given beside each (section 4 of the paper).
type GRPOConfig struct {
	RunConfig
	Init        string  `json:"init"`              // starting checkpoint (file, checkpoint folder or run folder)
	Group       int     `json:"group"`             // G: captions sampled per image           (paper: 4)
	Beta        float64 `json:"beta"`              // k3 KL weight to the reference policy    (paper: 1e-6)
	Temperature float64 `json:"temperature"`       // sampling temperature                    (paper: 1.0)
	TopK        int     `json:"top_k"`             // sample among the k most likely tokens (0: all)
	TopP        float64 `json:"top_p,omitempty"`   // nucleus: the most likely tokens reaching this probability (0 or 1: all)
	MaxLen      int     `json:"max_len"`           // most caption tokens sampled, EOS included (0: the model's)
	MinLen      int     `json:"min_len,omitempty"` // EOS is not sampled before this many tokens (0: off; benchmarks)
	EpsLow      float64 `json:"eps_low"`           // ratio clip below, 1-EpsLow
	EpsHigh     float64 `json:"eps_high"`          // ratio clip above, 1+EpsHigh
	LossAgg     LossAgg `json:"loss_agg"`          // seq-mean-token-mean (paper), token-mean, dr-grpo
	ScaleStd    bool    `json:"scale_std"`         // divide advantages by the group std (false: Dr. GRPO)
	Mu          int     `json:"mu"`                // policy updates per rollout
	TrainVision bool    `json:"train_vision"`      // train the vision encoder too (the paper keeps it frozen)
	// Joint optimises the drawing direction too (a policy that draws its own reward's images, a
	// Drawer): each trajectory's objective covers the image codes drawn for its caption as well as
	// the caption (T2I-R1-style; the drawings must be sampled, not greedy).
	Joint bool `json:"joint,omitempty"`
	// DrawSamples is K, the drawings per caption with Joint (0 or 1: one, the caption's reward and
	// advantage are its drawing's). With K > 1 a caption is rewarded with the mean of its K
	// drawings' rewards and each drawing's advantage is normalised within its caption's K
	// (drawAdvantages).
	DrawSamples int `json:"draw_samples,omitempty"`
	// ActivationCheckpointing has the policy's update recompute each decoder layer's activations
	// in the backward instead of keeping them (a Checkpointer): one more forward of the layers for
	// a peak that holds one layer's activations and every layer's input.
	ActivationCheckpointing bool `json:"activation_checkpointing,omitempty"`
	// MicroBatch is the number of sequences (rows) the update's forward and backward run over at
	// a time, their gradients accumulated before the one optimizer step: the same step as the full
	// batch, with the activations of M rows alive instead of N = B*G. It must be 0 (every row of
	// the rank at once), a multiple of Group (whole images) or a divisor of it (part of one image's
	// captions). The reference's log-probs run in the same micro-batches; --joint's drawing half
	// runs over the whole batch.
	MicroBatch int `json:"micro_batch,omitempty"`
	// RolloutBatch is the number of images whose G captions each are sampled at a time (R*G
	// sequences); 0: every image of the rank at once. Each row samples from its own stream, so the
	// captions do not depend on it.
	RolloutBatch int `json:"rollout_batch,omitempty"`
	// RewardOverlap asks a remote reward (reward.Remote) for the rewards of each rollout chunk as
	// soon as it is sampled, while the next chunk is sampled; the update still waits for them all.
	RewardOverlap bool `json:"reward_overlap"`
}

// DefaultGRPOConfig returns the defaults of `trainer train`.
func DefaultGRPOConfig() GRPOConfig {
	return GRPOConfig{
		RunConfig: RunConfig{Steps: 300, Batch: 8, LR: 5e-5, Warmup: 10, WeightDecay: 0, ClipNorm: 1, Seed: 1,
			EvalEvery: 50, EvalScenes: 100, ValSeed: ValSeed, CkptEvery: 50, Keep: 3, LogEvery: 5, PlotEvery: 25,
			CheckEvery: 50, Device: "cpu", MonitorInterval: 2},
		Group: 8, Beta: 0.2, Temperature: 1, EpsLow: 0.2, EpsHigh: 0.2, LossAgg: SeqMeanTokenMean, ScaleStd: true, Mu: 1,
		RewardOverlap: true,
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
	if c.Init == "" {
		return fmt.Errorf("--init is required: the checkpoint to start from (e.g. the SFT run folder)")
	}
	if err := c.RunConfig.validate(worldSize); err != nil {
		return err
	}
	switch {
	case c.Group < 2:
		return fmt.Errorf("--group %d: GRPO needs at least 2 samples per scene to compare them", c.Group)
	case !(c.Temperature > 0):
		return fmt.Errorf("--temperature %v: must be positive", c.Temperature)
	case !(c.EpsLow > 0 && c.EpsLow < 1) || !(c.EpsHigh > 0 && c.EpsHigh < 1):
		return fmt.Errorf("--eps-low %v / --eps-high %v: must be in (0, 1)", c.EpsLow, c.EpsHigh)
	case c.Beta < 0:
		return fmt.Errorf("--beta %v: must not be negative", c.Beta)
	case c.Mu < 1:
		return fmt.Errorf("--mu %d: must be at least 1", c.Mu)
	case c.TopK < 0 || c.MaxLen < 0 || c.MinLen < 0:
		return fmt.Errorf("--top-k, --max-len and --min-len must not be negative")
	case policy.CheckTopP(c.TopP) != nil:
		return fmt.Errorf("--%w", policy.CheckTopP(c.TopP))
	case c.DrawSamples < 0:
		return fmt.Errorf("--draw-samples %d: must not be negative (1: one drawing per caption)", c.DrawSamples)
	case c.DrawSamples > 1 && !c.Joint:
		return fmt.Errorf("--draw-samples %d: needs --joint (the drawings' own advantages train the drawing half)", c.DrawSamples)
	case c.RolloutBatch < 0:
		return fmt.Errorf("--rollout-batch %d: must not be negative (0: every image at once)", c.RolloutBatch)
	}
	if err := checkMicroBatch(c.MicroBatch, c.Group); err != nil {
		return err
	}
	if _, err := ParseLossAgg(string(c.LossAgg)); err != nil {
		return fmt.Errorf("--loss-agg: %w", err)
	}
	if _, err := os.Stat(c.Init); err != nil {
		return fmt.Errorf("--init %s: %w", c.Init, err)
	}
	return nil
}
