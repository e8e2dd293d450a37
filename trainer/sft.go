package trainer

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/eval"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/models/world"
)

// SFTConfig configures the supervised baseline: teacher-forced cross-entropy on deliberately
// incomplete captions, so that the baseline describes scenes only in part, as a general-purpose
// captioner does before reconstructive RL.
type SFTConfig struct {
	Out         string               `json:"out"`          // run folder
	Steps       int                  `json:"steps"`        // optimizer steps
	Batch       int                  `json:"batch"`        // scenes per step, over all ranks
	Captions    int                  `json:"captions"`     // partial captions per scene (they share the image encoding)
	LR          float64              `json:"lr"`           // peak learning rate
	Warmup      int                  `json:"warmup"`       // linear warmup steps
	MinLRRatio  float64              `json:"min_lr_ratio"` // cosine decay floor, as a fraction of LR
	WeightDecay float64              `json:"weight_decay"` // AdamW decoupled decay on matrices
	ClipNorm    float64              `json:"clip_norm"`    // global gradient-norm clip (0: off)
	Seed        uint64               `json:"seed"`         // keys every random stream of the run
	EvalEvery   int                  `json:"eval_every"`   // held-out evaluation interval (0: only at the end)
	EvalScenes  int                  `json:"eval_scenes"`  // held-out scenes per evaluation
	EvalSeed    uint64               `json:"eval_seed"`    // seed of the held-out scenes (shared by all runs)
	CkptEvery   int                  `json:"ckpt_every"`   // checkpoint interval (0: only at the end)
	Keep        int                  `json:"keep"`         // checkpoints kept
	LogEvery    int                  `json:"log_every"`    // metrics flush interval
	Partial     world.PartialOptions `json:"partial"`      // how incomplete the captions are
	World       world.Config         `json:"world"`
	Model       policy.Config        `json:"model"`
	Device      string               `json:"device"`
	// MonitorInterval is the seconds between device readings (0: no monitor).
	MonitorInterval float64 `json:"monitor_interval"`
}

// DefaultSFTConfig returns the defaults of `trainer sft`. Batch and Captions trade distinct
// images against captions per image: shapes are learned from distinct images, and with 16 scenes
// x 4 captions the baseline still named shapes at chance after 2,000 steps, where 32 scenes x 2
// captions (about 1.2x the time per step: 0.166 against 0.138 s on 2 ranks) learns them
// between steps 1,000 and 2,000.
func DefaultSFTConfig() SFTConfig {
	return SFTConfig{
		Steps: 2000, Batch: 32, Captions: 2, LR: 1e-3, Warmup: 100, MinLRRatio: 0.1, WeightDecay: 0.01, ClipNorm: 1,
		Seed: 1, EvalEvery: 500, EvalScenes: 200, EvalSeed: 20251125, CkptEvery: 500, Keep: 2, LogEvery: 10,
		Partial: world.DefaultPartialOptions(), World: world.DefaultConfig(), Model: policy.DefaultConfig(), Device: "cpu", MonitorInterval: 2,
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
	switch {
	case c.Out == "":
		return fmt.Errorf("--out is required: the run folder to write")
	case c.Steps < 1:
		return fmt.Errorf("--steps %d: must be at least 1", c.Steps)
	case c.Batch < 1:
		return fmt.Errorf("--batch %d: must be at least 1", c.Batch)
	case c.Captions < 1:
		return fmt.Errorf("--captions %d: must be at least 1", c.Captions)
	case !(c.LR > 0):
		return fmt.Errorf("--lr %v: must be positive", c.LR)
	case c.Warmup < 0 || c.ClipNorm < 0 || c.WeightDecay < 0 || c.EvalScenes < 0 || c.Keep < 0:
		return fmt.Errorf("--warmup, --clip, --weight-decay, --eval-scenes and --keep must not be negative")
	}
	if err := c.Partial.Validate(); err != nil {
		return err
	}
	if err := c.World.Validate(); err != nil {
		return err
	}
	if err := c.Model.Validate(); err != nil {
		return fmt.Errorf("model (--dim, --layers, --heads): %w", err)
	}
	return CheckDivisible("--batch", c.Batch, worldSize)
}

// SFT trains the supervised baseline. It must run on a goroutine locked to its OS thread.
func SFT(cfg SFTConfig, d *Dist, obs Observer) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if obs == nil {
		obs = Quiet{}
	}
	if err := cfg.Validate(d.World()); err != nil {
		return err
	}
	cfg.Model.Vocab, cfg.Model.ImageSize = world.NewVocab().V(), cfg.World.Size
	env, err := NewEnv(cfg.World, "all")
	if err != nil {
		return err
	}
	dev, err := ParseDevice(cfg.Device, d.LocalRank)
	if err != nil {
		return err
	}
	model, err := policy.New(cfg.Model, dev, cfg.Seed)
	if err != nil {
		return err
	}
	defer model.Close()
	sched := Schedule{LR: cfg.LR, Warmup: cfg.Warmup, Total: cfg.Steps, Cosine: true, MinRatio: cfg.MinLRRatio}
	l, err := newLearner(model, d, sched, cfg.ClipNorm, cfg.WeightDecay)
	if err != nil {
		return err
	}
	defer l.close()
	if err := l.syncFromRank0(); err != nil {
		return err
	}
	lp, err := openLoop("sft", cfg.Out, cfg, -1, d, l, env, cfg.MonitorInterval, obs)
	if err != nil {
		return err
	}
	defer lp.close()
	lp.run.logf("sft: %d parameters (%d trainable), %d ranks, %d scenes x %d captions per step", model.NumParams(), l.flat.N, d.World(), cfg.Batch, cfg.Captions)
	lp.every = Intervals{Log: cfg.LogEvery, Eval: cfg.EvalEvery, Ckpt: cfg.CkptEvery, Keep: cfg.Keep}
	lp.state.Kind, lp.state.Seed = "sft", cfg.Seed
	lp.heldScenes, lp.heldImages = env.HeldOut(cfg.EvalSeed, cfg.EvalScenes)
	lp.evalSeed = cfg.EvalSeed
	lp.step = func(step int) (Record, error) { return sftStep(cfg, env, l, d, step) }
	lp.final = func(res *eval.Result) error {
		return lp.run.writeJSON("eval.json", evalSummary(res, len(lp.heldScenes)))
	}
	if err := lp.steps(0, cfg.Steps); err != nil {
		return err
	}
	lp.run.logf("sft: done; %v; eval.json and checkpoints in %s", l.opt, cfg.Out)
	return nil
}

// sftStep is one data-parallel SFT step: this rank's share of scenes, partial captions,
// teacher-forced cross-entropy scaled so that the average over ranks is the global token mean,
// backward, update.
func sftStep(cfg SFTConfig, env *Env, l *learner, d *Dist, step int) (Record, error) {
	lo, hi := d.Share(cfg.Batch)
	scenes, images := env.Scenes(cfg.Seed, step, lo, hi)
	K := cfg.Captions
	captions := make([][]int, len(scenes)*K)
	words := 0
	for i, s := range scenes {
		for k := 0; k < K; k++ {
			c := world.Partial(s, cfg.Partial, stream.RNG(cfg.Seed, stream.Caption, step, (lo+i)*K+k))
			captions[i*K+k] = c
			words += len(c)
		}
	}
	loss, ntok, err := l.model.Loss(images, captions)
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

// checkpoint saves on rank 0 while the others wait, so no rank runs ahead of a checkpoint.
func checkpoint(run *runFolder, l *learner, st State, keep int) error {
	if run.primary {
		opt, err := l.state()
		if err != nil {
			return err
		}
		dir, err := SaveCheckpoint(run.dir, st, opt, func(p string) error {
			return l.model.Save(p, map[string]string{"step": fmt.Sprint(st.Step), "kind": st.Kind})
		}, keep)
		if err != nil {
			return err
		}
		run.logf("checkpoint %s", filepath.Base(dir))
	}
	return l.dist.Barrier()
}

// evaluate captions the held-out scenes greedily and scores them.
func evaluate(m *policy.Model, env *Env, scenes []world.Scene, images []world.Image, seed uint64) (*eval.Result, error) {
	if len(scenes) == 0 {
		return nil, nil
	}
	caps, err := eval.Captions(m, images, eval.SampleOptions{})
	if err != nil {
		return nil, err
	}
	return eval.Score("policy", env.Decoder, env.Embedders, scenes, images, caps, seed, 0)
}

// evalFields are the held-out results of greedy captions, under the names of eval.json (and,
// prefixed with eval_, of metrics.jsonl).
func evalFields(r *eval.Result) map[string]float64 {
	return map[string]float64{
		"reward": r.Overall, "length": r.LengthMean, "object_recall": r.ObjectRecall,
		"object_precision": r.ObjectPrecision, "attribute_accuracy": r.AttributeAccuracy,
		"small_object_recall": r.SmallObjectRecall, "position_accuracy": r.PositionAccuracy,
		"coverage": r.Coverage, "size_accuracy": r.SizeAccuracy, "color_accuracy": r.ColorAccuracy,
		"shape_accuracy": r.ShapeAccuracy,
	}
}

// addEval puts held-out results into a metrics record under eval_ keys.
func addEval(rec Record, r *eval.Result) {
	if r == nil {
		return
	}
	for k, v := range evalFields(r) {
		rec["eval_"+k] = v
	}
}

// evalSummary is eval.json: the understanding metrics of greedy captions on held-out scenes.
func evalSummary(r *eval.Result, scenes int) map[string]any {
	out := map[string]any{"scenes": scenes}
	if r == nil {
		out["scenes"] = 0
		return out
	}
	for k, v := range evalFields(r) {
		out[k] = v
	}
	out["length_mean"], out["embedders"] = r.LengthMean, r.Embedders
	return out
}

// ParseDevice turns --device into a gotch device: "cpu", "cuda" (GPU localRank) or "auto".
func ParseDevice(s string, localRank int) (gotch.Device, error) {
	switch s {
	case "cpu", "":
		return gotch.CPU, nil
	case "cuda", "auto":
		if gotch.CUDA.IsAvailable() {
			n := int(gotch.CUDA.DeviceCount())
			if localRank >= n {
				if os.Getenv("UNIGRPO_SHARE_GPUS") != "1" {
					return gotch.CPU, fmt.Errorf("--device cuda: local rank %d needs GPU %d but %d GPU(s) are visible: start at most %d ranks per node, or set UNIGRPO_SHARE_GPUS=1 to place ranks on the GPUs round-robin (gradients then need UNIGRPO_GRAD_SYNC=ring: NCCL refuses two ranks on one GPU)", localRank, localRank, n, n)
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
