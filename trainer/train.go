package trainer

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/unigrpo/unigrpo/eval"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/models/world"
)

// grpo holds what a Unified-GRPO run needs between steps.
type grpo struct {
	cfg GRPOConfig
	env *Env
	src *folderSource // the source images when --images is given, else the world's scenes
	l   *learner      // the policy being trained and its optimizer
	ref *policy.Model // frozen copy of the initial policy, the KL reference (nil when Beta is 0)
	d   *Dist
}

// Train runs Unified-GRPO from cfg.Init, or, with resume set, continues the run in cfg.Out from
// its newest checkpoint up to cfg.Steps. It must run on a goroutine locked to its OS thread.
func Train(cfg GRPOConfig, resume bool, d *Dist, obs Observer) error {
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
	env, err := NewEnv(world.DefaultConfig(), cfg.Reward)
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
	model, _, err := policy.Load(start, dev)
	if err != nil {
		return err
	}
	defer model.Close()
	if err := model.SetTrainable(cfg.TrainVision, true, true); err != nil {
		return err
	}
	g := &grpo{cfg: cfg, env: env, d: d}
	if cfg.Images != "" {
		if g.src, err = newFolderSource(cfg.Images, cfg.ImagesHeld, env.World.Size); err != nil {
			return err
		}
	}
	if cfg.Beta > 0 {
		if g.ref, _, err = policy.Load(initPath, dev); err != nil {
			return fmt.Errorf("reference policy: %w", err)
		}
		defer g.ref.Close()
		if err := g.ref.SetTrainable(false, false, false); err != nil {
			return err
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
	resumeAt := -1
	if resume {
		resumeAt = first
	}
	lp, err := openLoop("train", cfg.Out, cfg, resumeAt, d, g.l, env, cfg.MonitorInterval, obs)
	if err != nil {
		return err
	}
	defer lp.close()
	if resume {
		lp.run.logf("train: resumed at step %d from %s", first, start)
	}
	lp.run.logf("train: %d trainable of %d parameters, %d ranks, B=%d scenes x G=%d samples per step", g.l.flat.N, model.NumParams(), d.World(), cfg.Batch, cfg.Group)
	lp.every = Intervals{Log: cfg.LogEvery, Eval: cfg.EvalEvery, Ckpt: cfg.CkptEvery, Plot: cfg.PlotEvery, Check: cfg.CheckEvery, Keep: cfg.Keep}
	lp.state.Kind, lp.state.Seed = "grpo", cfg.Seed
	if g.src == nil {
		lp.heldScenes, lp.heldImages = env.HeldOut(cfg.EvalSeed, cfg.EvalScenes)
	} else {
		// The held-out evaluation scores world scenes with their labels; a folder has none.
		lp.run.logf("train: source images from %s: %d for training, %d held out; no held-out evaluation of world scenes", cfg.Images, len(g.src.train), g.src.held)
	}
	lp.evalSeed = cfg.EvalSeed
	lp.step = g.step
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

	// Rollout: G captions per scene, each row with its own stream keyed by its global index.
	t0 := time.Now()
	var images []world.Image
	if g.src != nil {
		var err error
		if images, err = g.src.images(c.Seed, step, lo, hi); err != nil {
			return nil, fmt.Errorf("step %d: %w", step, err)
		}
	} else {
		_, images = g.env.Scenes(c.Seed, step, lo, hi)
	}
	rngs := make([]*rand.Rand, N)
	for r := range rngs {
		rngs[r] = stream.RNG(c.Seed, stream.Sample, step, lo*G+r)
	}
	roll, err := g.l.model.Sample(images, G, policy.SampleOptions{Temperature: c.Temperature, TopK: c.TopK, MaxLen: c.MaxLen, MinLen: c.MinLen}, rngs)
	if err != nil {
		return nil, fmt.Errorf("step %d: rollout: %w", step, err)
	}
	tRoll := time.Since(t0)

	// Reward: reconstruct each caption with the frozen decoder, compare embeddings.
	t0 = time.Now()
	rewards := g.env.Rewards(images, G, roll.Tokens, c.Seed, stream.Decode, step, lo*G)
	adv, zeroStd := Advantages(rewards, G, 1e-6, c.ScaleStd)
	tReward := time.Since(t0)

	// Counts over all ranks, needed by the loss normalisers.
	tokens, words, truncated := 0, 0, 0
	for r := range roll.Tokens {
		tokens += roll.Lengths[r]
		words += len(eval.StripEOS(roll.Tokens[r]))
		if roll.Truncated[r] {
			truncated++
		}
	}
	tot, err := g.d.Sum([]float64{float64(tokens)})
	if err != nil {
		return nil, err
	}
	opts := ObjectiveOptions{EpsLow: c.EpsLow, EpsHigh: c.EpsHigh, Beta: c.Beta, Agg: c.LossAgg,
		MaxLen: g.maxLen(), GlobalN: c.Batch * G, GlobalTokens: int(tot[0]), World: g.d.World()}

	t0 = time.Now()
	var ref [][]float64
	if c.Beta > 0 {
		sc, err := g.ref.LogProbs(images, G, roll.Tokens, c.Temperature, false)
		if err != nil {
			return nil, fmt.Errorf("step %d: reference log-probs: %w", step, err)
		}
		ref, err = rows(sc.LogProbs, N, sc.T)
		sc.Drop()
		if err != nil {
			return nil, err
		}
	}
	var old [][]float64
	var first ObjectiveResult
	var entropySum, gradNorm, lr float64
	for it := 0; it < c.Mu; it++ {
		sc, err := g.l.model.LogProbs(images, G, roll.Tokens, c.Temperature, it == 0)
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
		coef := make([]float32, N*sc.T)
		for i, row := range res.Coef {
			for t, v := range row {
				coef[i*sc.T+t] = float32(v)
			}
		}
		err = weightedBackward(sc.LogProbs, coef, N, sc.T)
		sc.Drop()
		if err != nil {
			return nil, fmt.Errorf("step %d: backward: %w", step, err)
		}
		if gradNorm, lr, err = g.l.update(step); err != nil {
			return nil, err
		}
	}
	tUpdate := time.Since(t0)

	// Metrics over all ranks.
	rmin, rmax, rsum, rsq := math.Inf(1), math.Inf(-1), 0.0, 0.0
	for _, r := range rewards {
		rmin, rmax, rsum, rsq = math.Min(rmin, r), math.Max(rmax, r), rsum+r, rsq+r*r
	}
	lmin, lmax := math.Inf(1), math.Inf(-1)
	for _, t := range roll.Tokens {
		n := float64(len(eval.StripEOS(t)))
		lmin, lmax = math.Min(lmin, n), math.Max(lmax, n)
	}
	tf := float64(tokens)
	s, err := g.d.Sum([]float64{rsum, rsq, float64(zeroStd), float64(words), float64(truncated),
		first.KL * tf, first.ClipLow * tf, first.ClipHigh * tf, entropySum, first.Loss, float64(N)})
	if err != nil {
		return nil, err
	}
	mx, err := g.d.Max([]float64{rmax, -rmin, lmax, -lmin})
	if err != nil {
		return nil, err
	}
	n, T := s[10], tot[0]
	mean := s[0] / n
	return Record{
		"step": float64(step), "reward_mean": mean, "reward_std": math.Sqrt(math.Max(0, s[1]/n-mean*mean)),
		"reward_min": -mx[1], "reward_max": mx[0], "frac_zero_std": s[2] / (n / float64(G)),
		"length_mean": s[3] / n, "length_min": -mx[3], "length_max": mx[2], "clipped_ratio": s[4] / n,
		"kl": s[5] / T, "clip_low": s[6] / T, "clip_high": s[7] / T, "entropy": s[8] / T,
		"loss": s[9] / float64(g.d.World()), "grad_norm": gradNorm, "lr": lr, "tokens": T, "samples": n,
		"rollout_time": tRoll.Seconds(), "reward_time": tReward.Seconds(), "update_time": tUpdate.Seconds(),
	}, nil
}

func (g *grpo) maxLen() int {
	if g.cfg.MaxLen > 0 {
		return g.cfg.MaxLen
	}
	return g.l.model.Config().MaxLen
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
