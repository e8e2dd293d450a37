package trainer

import (
	"fmt"
	"math"
	"runtime"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/eval"
	"github.com/unigrpo/unigrpo/reward"
)

// SFTConfig configures supervised fine-tuning: teacher-forced cross-entropy on the reference
// captions the task supplies (for the world: deliberately incomplete ones, so that the baseline
// describes scenes only in part, as a general-purpose captioner does before reconstructive RL).
type SFTConfig struct {
	RunConfig
	Captions   int     `json:"captions"`     // captions per image (they share the image encoding)
	MinLRRatio float64 `json:"min_lr_ratio"` // cosine decay floor, as a fraction of LR
	// DecaySteps is the number of steps the cosine schedule spans (0: Steps). A run of fewer Steps
	// with a longer run's DecaySteps takes that run's first steps exactly.
	DecaySteps int `json:"decay_steps,omitempty"`
}

// DefaultSFTConfig returns the defaults of `trainer sft`. Batch and Captions trade distinct
// images against captions per image: shapes are learned from distinct images, and with 16 scenes
// x 4 captions the baseline still named shapes at chance after 2,000 steps, where 32 scenes x 2
// captions (about 1.2x the time per step: 0.166 against 0.138 s on 2 ranks) learns them
// between steps 1,000 and 2,000.
func DefaultSFTConfig() SFTConfig {
	return SFTConfig{
		RunConfig: RunConfig{Steps: 2000, Batch: 32, LR: 1e-3, Warmup: 100, WeightDecay: 0.01, ClipNorm: 1, Seed: 1,
			EvalEvery: 500, EvalScenes: 200, ValSeed: ValSeed, CkptEvery: 500, Keep: 2, LogEvery: 10, PlotEvery: 0,
			Device: "cpu", MonitorInterval: 2},
		Captions: 2, MinLRRatio: 0.1,
	}
}

// Validate checks the configuration before any work.
func (c SFTConfig) Validate(worldSize int) error {
	if err := c.validate(worldSize); err != nil {
		return ConfigError{err}
	}
	return nil
}

func (c SFTConfig) validate(worldSize int) error {
	if err := c.RunConfig.validate(worldSize); err != nil {
		return err
	}
	switch {
	case c.Captions < 1:
		return fmt.Errorf("--captions %d: must be at least 1", c.Captions)
	case !(c.MinLRRatio >= 0 && c.MinLRRatio <= 1):
		return fmt.Errorf("min LR ratio %v: must be in [0, 1]", c.MinLRRatio)
	case c.DecaySteps != 0 && c.DecaySteps < c.Steps:
		return fmt.Errorf("--decay-steps %d: must be 0 (--steps) or at least --steps %d", c.DecaySteps, c.Steps)
	}
	return nil
}

// SFT trains the supervised baseline. It must run on a goroutine locked to its OS thread.
func SFT(cfg SFTConfig, task SFTTask, d *Dist, obs Observer) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if obs == nil {
		obs = Quiet{}
	}
	if err := cfg.Validate(d.World()); err != nil {
		return err
	}
	dev, err := ParseDevice(cfg.Device, d.LocalRank, d.ShareGPUs)
	if err != nil {
		return err
	}
	model, err := task.New(dev, cfg.Seed)
	if err != nil {
		return err
	}
	defer model.Close()
	if sd, ok := model.(reward.SelfDecoder); ok && task.Reward == nil {
		task.Reward = sd.Decoder() // a unified model is evaluated with its own reconstructions
	}
	sched := Schedule{LR: cfg.LR, Warmup: cfg.Warmup, Total: cfg.Steps, Cosine: true, MinRatio: cfg.MinLRRatio}
	if cfg.DecaySteps != 0 {
		sched.Total = cfg.DecaySteps
	}
	l, err := newLearner(model, d, sched, cfg.ClipNorm, cfg.WeightDecay)
	if err != nil {
		return err
	}
	defer l.close()
	if err := l.syncFromRank0(); err != nil {
		return err
	}
	spec := loopSpec{what: "sft", dir: cfg.Out, config: task.Config, resumeAt: -1, force: cfg.Force, kind: "sft", seed: cfg.Seed,
		every: cfg.intervals(), monitor: cfg.MonitorInterval, evalSeed: cfg.ValSeed, reward: task.Reward, judge: task.Judge, files: task.Files}
	if spec.config == nil {
		spec.config = cfg
	}
	if cfg.EvalScenes > 0 {
		if spec.held, err = task.Data.HeldOut(cfg.ValSeed, cfg.EvalScenes); err != nil {
			return err
		}
	}
	spec.step = func(step int) (Record, error) { return sftStep(cfg, task.Data, l, d, step) }
	lp, err := openLoop(spec, d, l, obs)
	if err != nil {
		return err
	}
	defer lp.close()
	lp.run.logf("sft: %d trainable parameters, %d ranks, %d images x %d captions per step", l.flat.N, d.World(), cfg.Batch, cfg.Captions)
	lp.final = func(res *eval.Result) error { return lp.run.writeJSON("eval.json", lp.evalSummary(res)) }
	if err := lp.steps(0, cfg.Steps); err != nil {
		return err
	}
	lp.run.logf("sft: done; %v; eval.json and checkpoints in %s", l.opt, cfg.Out)
	return nil
}

// sftStep is one data-parallel SFT step: this rank's share of images and their captions,
// teacher-forced cross-entropy scaled so that the average over ranks is the global token mean,
// backward, update.
func sftStep(cfg SFTConfig, data Supervised, l *learner, d *Dist, step int) (Record, error) {
	lo, hi := d.Share(cfg.Batch)
	K := cfg.Captions
	imgs, captions, err := data.Pairs(cfg.Seed, step, lo, hi, K)
	if err != nil {
		return nil, fmt.Errorf("sft step %d: %w", step, err)
	}
	words := 0
	for _, c := range captions {
		words += len(c)
	}
	loss, ntok, err := l.model.(SupervisedPolicy).Loss(imgs, captions)
	if err != nil {
		return nil, fmt.Errorf("sft step %d: %w", step, err)
	}
	tot, err := d.Sum([]float64{float64(ntok), float64(words)})
	if err != nil {
		loss.MustDrop()
		return nil, err
	}
	// The model's loss is a mean over this rank's tokens; rescale so the rank average is the
	// mean over all tokens of the global batch (exactly what one process would compute).
	scale := float64(ntok) * float64(d.World()) / tot[0]
	var lv [1]float32
	err = loss.CopyData(lv[:], 1)
	lossVal := float64(lv[0])
	if err == nil {
		err = scaledBackward(loss, scale)
	}
	loss.MustDrop()
	if err != nil {
		return nil, fmt.Errorf("sft step %d: backward: %w", step, err)
	}
	if math.IsNaN(lossVal) || math.IsInf(lossVal, 0) {
		return nil, fmt.Errorf("sft step %d: loss is %v; stopping (the last checkpoint is the last good state)", step, lossVal)
	}
	gn, lr, err := l.update(step)
	if err != nil {
		return nil, err
	}
	ls, err := d.Sum([]float64{lossVal * float64(ntok)})
	if err != nil {
		return nil, err
	}
	return Record{"step": float64(step), "loss": ls[0] / tot[0], "grad_norm": gn, "lr": lr,
		"tokens": tot[0], "length_mean": tot[1] / float64(cfg.Batch*K)}, nil
}

// ParseDevice turns --device into a gotch device: "cpu", "cuda" (GPU localRank) or "auto". With
// share, local ranks beyond the visible GPUs go on them round-robin (--share-gpus).
func ParseDevice(s string, localRank int, share bool) (gotch.Device, error) {
	switch s {
	case "cpu", "":
		return gotch.CPU, nil
	case "cuda", "auto":
		if gotch.CUDA.IsAvailable() {
			n := int(gotch.CUDA.DeviceCount())
			if localRank >= n {
				if !share {
					return gotch.CPU, fmt.Errorf("--device cuda: local rank %d needs GPU %d but %d GPU(s) are visible: start at most %d ranks per node, or pass --share-gpus to place ranks on the GPUs round-robin (gradients then need --grad-sync ring: NCCL refuses two ranks on one GPU)", localRank, localRank, n, n)
				}
				localRank %= n
			}
			return gotch.CudaBuilder(uint(localRank)), nil
		}
		if s == "auto" {
			return gotch.CPU, nil
		}
		return gotch.CPU, fmt.Errorf("--device cuda: no CUDA device is usable here (this libtorch build or machine has no CUDA); use --device cpu, or rebuild with LIBTORCH pointing at a CUDA libtorch (see README)")
	}
	return gotch.CPU, fmt.Errorf("--device %q: use cpu, cuda or auto", s)
}
