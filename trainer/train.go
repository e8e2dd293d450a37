package trainer

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/unigrpo/unigrpo/eval"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/policy"
)

// grpo holds what a Unified-GRPO run needs between steps.
type grpo struct {
	cfg  GRPOConfig
	task Task
	// embedders names the reward's embedders (the per-embedder metrics), asked once.
	embedders []string
	l         *learner // the policy being trained and its optimizer
	ref       Policy   // frozen copy of the initial policy, the KL reference (nil when Beta is 0)
	d         *Dist
}

// Train runs Unified-GRPO from cfg.Init, or, with resume set, continues the run in cfg.Out from
// its newest checkpoint up to cfg.Steps. It must run on a goroutine locked to its OS thread.
func Train(cfg GRPOConfig, task Task, resume bool, d *Dist, obs Observer) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if obs == nil {
		obs = Quiet{}
	}
	if err := cfg.Validate(d.World()); err != nil {
		return err
	}
	dev, err := ParseDevice(cfg.Device, d.LocalRank)
	if err != nil {
		return err
	}
	initPath, err := ResolveModel(cfg.Init)
	if err != nil {
		return fmt.Errorf("--init: %w", err)
	}
	// The policy starts from the newest checkpoint of the run when resuming, else from --init.
	start, startState := initPath, (*State)(nil)
	var startOpt *AdamW
	if resume {
		cks, err := Checkpoints(cfg.Out)
		if err != nil || len(cks) == 0 {
			return fmt.Errorf("--resume %s: no checkpoint to resume from (the run saves one every --ckpt-every steps)", cfg.Out)
		}
		start = filepath.Join(cks[len(cks)-1], modelFile)
		// the optimizer's size is known once the model is loaded; read it below
		startState = &State{}
		*startState, startOpt, err = LoadState(cks[len(cks)-1], -1)
		if err != nil {
			return err
		}
	}
	model, err := task.Load(start, dev, LoadOptions{TrainVision: cfg.TrainVision})
	if err != nil {
		return err
	}
	defer model.Close()
	if task.Reward == nil {
		// A unified model (UMM-2) regenerates the images with its own generation direction, so
		// the reward follows the weights being trained.
		sd, ok := model.(eval.SelfDecoder)
		if !ok {
			return fmt.Errorf("train: the task has no reward and the policy does not decode images itself")
		}
		task.Reward = sd.Decoder()
	}
	if _, ok := model.(Drawer); cfg.Joint && !ok {
		return ConfigError{fmt.Errorf("--joint: the policy (%s) does not draw images; it needs a unified model as --init", start)}
	}
	g := &grpo{cfg: cfg, task: task, d: d, embedders: task.Reward.Embedders()}
	if cfg.Beta > 0 {
		if g.ref, err = task.Load(initPath, dev, LoadOptions{Frozen: true}); err != nil {
			return fmt.Errorf("reference policy: %w", err)
		}
		defer g.ref.Close()
		if _, ok := g.ref.(Drawer); cfg.Joint && !ok {
			return fmt.Errorf("reference policy: --joint needs it to draw images")
		}
	}
	sched := Schedule{LR: cfg.LR, Warmup: cfg.Warmup}
	if g.l, err = newLearner(model, d, sched, cfg.ClipNorm, cfg.WeightDecay); err != nil {
		return err
	}
	defer g.l.close()
	first := 0
	if startState != nil {
		if len(startOpt.M) != g.l.flat.N {
			return fmt.Errorf("--resume: the checkpoint's optimizer holds %d values but the model trains %d; was --train-vision changed?", len(startOpt.M), g.l.flat.N)
		}
		if err := g.l.restore(startOpt); err != nil {
			return err
		}
		first = startState.Step
	}
	if err := g.l.syncFromRank0(); err != nil {
		return err
	}
	if first >= cfg.Steps {
		return fmt.Errorf("--resume: the run is already at step %d; pass --steps above it to go on", first)
	}
	spec := loopSpec{what: "train", dir: cfg.Out, config: cfg, resumeAt: -1, kind: "grpo", seed: cfg.Seed,
		every: cfg.intervals(), monitor: cfg.MonitorInterval, evalSeed: cfg.EvalSeed, reward: task.Reward,
		judge: task.Judge, step: g.step, baseline: true}
	if resume {
		spec.resumeAt = first
	}
	heldErr := error(nil)
	if cfg.EvalScenes > 0 {
		spec.held, heldErr = task.Source.HeldOut(cfg.EvalSeed, cfg.EvalScenes)
	}
	lp, err := openLoop(spec, d, g.l, obs)
	if err != nil {
		return err
	}
	defer lp.close()
	if resume {
		lp.run.logf("train: resumed at step %d from %s", first, start)
	}
	lp.run.logf("train: %d trainable parameters, %d ranks, B=%d images x G=%d samples per step; images: %s; reward: %s",
		g.l.flat.N, d.World(), cfg.Batch, cfg.Group, task.About, strings.Join(g.embedders, ","))
	if heldErr != nil {
		lp.run.logf("train: no held-out evaluation: %v", heldErr)
	}
	if err := lp.steps(first, cfg.Steps); err != nil {
		return err
	}
	sum, err := g.l.checksum()
	if err != nil {
		return err
	}
	lp.run.logf("train: done; weights crc %08x; %v; plots in %s", sum, g.l.opt, filepath.Join(cfg.Out, "plots"))
	return nil
}

// step is one Unified-GRPO step on this rank's share of the global batch:
// rollout -> reward -> advantage -> (loss -> backward -> sync -> update) x mu.
func (g *grpo) step(step int) (Record, error) {
	c := g.cfg
	G := c.Group
	lo, hi := g.d.Share(c.Batch)
	B := hi - lo
	N := B * G

	// Rollout: G captions per image, each row with its own stream keyed by its global index.
	t0 := time.Now()
	imgs, err := g.task.Source.Images(c.Seed, step, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("step %d: %w", step, err)
	}
	rngs := make([]*rand.Rand, N)
	for r := range rngs {
		rngs[r] = stream.RNG(c.Seed, stream.Sample, step, lo*G+r)
	}
	roll, err := g.l.model.Sample(imgs, G, policy.SampleOptions{Temperature: c.Temperature, TopK: c.TopK, MaxLen: c.MaxLen, MinLen: c.MinLen}, rngs)
	if err != nil {
		return nil, fmt.Errorf("step %d: rollout: %w", step, err)
	}
	tRoll := time.Since(t0)

	// Reward: the frozen decoder reconstructs each caption (its draws keyed by the row's global
	// index), the embedders compare the reconstruction with the source.
	t0 = time.Now()
	texts := make([]string, N)
	for r := range texts {
		texts[r] = g.l.model.Text(eval.Words(roll, r))
	}
	keys := stream.Keys(c.Seed, stream.Decode, step, lo*G, N)
	var rewards []float64
	var parts [][]float64
	var codes [][]int // the drawings of the joint objective
	if c.Joint {
		rewards, parts, codes, err = g.l.model.(Drawer).DrawRewards(imgs, G, texts, keys)
	} else if hr, ok := g.task.Reward.(eval.HiddenReward); ok && len(roll.Hidden) == N {
		rewards, parts, err = hr.RewardsWithHidden(imgs, G, texts, roll.Hidden, keys)
	} else {
		rewards, parts, err = g.task.Reward.Rewards(imgs, G, texts, keys)
	}
	if err != nil {
		return nil, fmt.Errorf("step %d: reward: %w", step, err)
	}
	adv, zeroStd := Advantages(rewards, G, 1e-6, c.ScaleStd)
	tReward := time.Since(t0)

	// Counts over all ranks, needed by the loss normalisers.
	tokens := 0
	for r := range roll.Tokens {
		tokens += roll.Lengths[r]
	}
	tot, err := g.d.Sum([]float64{float64(tokens)})
	if err != nil {
		return nil, err
	}
	T := tot[0]
	opts := ObjectiveOptions{EpsLow: c.EpsLow, EpsHigh: c.EpsHigh, Beta: c.Beta, Agg: c.LossAgg,
		MaxLen: g.maxLen(), GlobalN: c.Batch * G, GlobalTokens: int(T), World: g.d.World()}

	t0 = time.Now()
	var ref [][]float64
	if c.Beta > 0 {
		sc, err := g.ref.LogProbs(imgs, G, roll.Tokens, c.Temperature, false)
		if err != nil {
			return nil, fmt.Errorf("step %d: reference log-probs: %w", step, err)
		}
		ref, err = rows(sc.LogProbs, N, sc.T)
		sc.Drop()
		if err != nil {
			return nil, err
		}
	}
	var draw *drawing
	if c.Joint {
		if draw, err = g.newDrawing(texts, codes, opts); err != nil {
			return nil, fmt.Errorf("step %d: %w", step, err)
		}
	}
	var old [][]float64
	var first ObjectiveResult
	var entropySum, gradNorm, lr float64
	for it := 0; it < c.Mu; it++ {
		sc, err := g.l.model.LogProbs(imgs, G, roll.Tokens, c.Temperature, it == 0)
		if err != nil {
			return nil, fmt.Errorf("step %d: log-probs: %w", step, err)
		}
		lp, err := rows(sc.LogProbs, N, sc.T)
		if err == nil && it == 0 {
			// The sampling policy's log-probs: with mu = 1 the ratio is exactly 1 at the update.
			old = lp
			var ent [][]float64
			if ent, err = rows(sc.Entropy, N, sc.T); err == nil {
				for _, row := range ent {
					for _, e := range row {
						entropySum += e
					}
				}
			}
		}
		if err != nil {
			sc.Drop()
			return nil, err
		}
		res, err := Objective(Trajectories{Len: roll.Lengths, LogP: lp, Old: old, Ref: ref, Adv: adv}, opts)
		if err != nil {
			sc.Drop()
			return nil, err
		}
		if it == 0 {
			first = res
		}
		if !finite(res.Loss) {
			sc.Drop()
			return nil, fmt.Errorf("step %d: loss is %v", step, res.Loss)
		}
		err = objectiveBackward(sc.LogProbs, res.Coef, sc.T)
		sc.Drop()
		if err != nil {
			return nil, fmt.Errorf("step %d: backward: %w", step, err)
		}
		if draw != nil {
			if err := draw.backward(it, adv); err != nil {
				return nil, fmt.Errorf("step %d: %w", step, err)
			}
		}
		if gradNorm, lr, err = g.l.update(step); err != nil {
			return nil, err
		}
	}
	tUpdate := time.Since(t0)

	// Metrics over all ranks: sums and extremes by name, token-weighted means from sums.
	var t tally
	words, truncated := 0, 0
	for r := range roll.Tokens {
		n := float64(len(eval.Words(roll, r)))
		words += int(n)
		t.max("length_max", n)
		t.min("length_min", n)
		if roll.Truncated[r] {
			truncated++
		}
	}
	rsum, rsq := 0.0, 0.0
	for _, r := range rewards {
		rsum, rsq = rsum+r, rsq+r*r
		t.max("reward_max", r)
		t.min("reward_min", r)
	}
	for k, name := range g.embedders {
		s := 0.0
		for _, p := range parts {
			s += p[k]
		}
		t.sum("embedder:"+name, s)
	}
	tf := float64(tokens)
	t.sum("reward_sum", rsum)
	t.sum("reward_sq", rsq)
	t.sum("zero_std", float64(zeroStd))
	t.sum("words", float64(words))
	t.sum("truncated", float64(truncated))
	t.sum("kl", first.KL*tf)
	t.sum("clip_low", first.ClipLow*tf)
	t.sum("clip_high", first.ClipHigh*tf)
	t.sum("entropy", entropySum)
	t.sum("loss", first.Loss)
	t.sum("samples", float64(N))
	t.max("reward_time", tReward.Seconds())
	if draw != nil {
		draw.tally(&t)
	}
	if sk, ok := g.task.Source.(interface{ TakeSkipped() int }); ok {
		t.sum("images_skipped", float64(sk.TakeSkipped()))
	}
	m, err := t.reduce(g.d)
	if err != nil {
		return nil, err
	}
	n := m["samples"]
	mean := m["reward_sum"] / n
	rec := Record{
		"step": float64(step), "reward_mean": mean, "reward_std": math.Sqrt(math.Max(0, m["reward_sq"]/n-mean*mean)),
		"reward_min": m["reward_min"], "reward_max": m["reward_max"], "frac_zero_std": m["zero_std"] / (n / float64(G)),
		"length_mean": m["words"] / n, "length_min": m["length_min"], "length_max": m["length_max"], "clipped_ratio": m["truncated"] / n,
		"kl": m["kl"] / T, "clip_low": m["clip_low"] / T, "clip_high": m["clip_high"] / T, "entropy": m["entropy"] / T,
		"loss": m["loss"] / float64(g.d.World()), "grad_norm": gradNorm, "lr": lr, "tokens": T, "samples": n,
		"rollout_time": tRoll.Seconds(), "reward_time": tReward.Seconds(), "update_time": tUpdate.Seconds(),
		// captions scored per second of reward time, over all ranks (the slowest rank's time)
		"reward_captions_per_s": n / m["reward_time"],
	}
	for _, name := range g.embedders {
		key := "reward_" + name // the mean similarity under one embedder
		if _, taken := rec[key]; taken {
			key = "reward_embedder_" + name
		}
		rec[key] = m["embedder:"+name] / n
	}
	if draw != nil {
		drawRecord(rec, m, g.d.World())
	}
	if v, ok := m["images_skipped"]; ok {
		rec["images_skipped"] = v
	}
	return rec, nil
}

func (g *grpo) maxLen() int {
	if g.cfg.MaxLen > 0 {
		return g.cfg.MaxLen
	}
	return g.l.model.MaxLen()
}

// ReadRunConfig reads the config.json of a GRPO run folder (for --resume).
func ReadRunConfig(dir string) (GRPOConfig, error) {
	c := DefaultGRPOConfig()
	js, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return c, fmt.Errorf("--resume %s: %w (is it a run folder of `trainer train`?)", dir, err)
	}
	if err := json.Unmarshal(js, &c); err != nil {
		return c, fmt.Errorf("--resume %s: config.json is damaged: %w", dir, err)
	}
	return c, nil
}
