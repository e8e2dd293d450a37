package trainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/reward"
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
	// The optional capabilities of the pieces, resolved once when the run is wired.
	hidden    reward.HiddenReward  // the reward also reads the captions' hidden states (nil: not)
	drawer    Drawer               // the policy's drawing half, with --joint (nil: not joint)
	refDrawer Drawer               // the reference's drawing half, with --joint and a KL term
	skips     SkipCounter          // the source counts the images it skipped (nil: it never skips)
	services  reward.StatsReporter // the reward's services report their work (nil: not a pool)
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
	g, at, err := openGRPO(cfg, task, resume, d)
	if err != nil {
		return err
	}
	defer g.close()
	task = g.task
	var config any = cfg
	if task.Config != nil {
		config = task.Config
	}
	spec := loopSpec{what: "train", dir: cfg.Out, config: config, resumeAt: -1, force: cfg.Force, kind: "grpo", seed: cfg.Seed,
		every: cfg.intervals(), monitor: cfg.MonitorInterval, evalSeed: cfg.ValSeed, reward: task.Reward,
		judge: task.Judge, step: g.step, baseline: true, files: task.Files}
	if resume {
		spec.resumeAt = at.step
	}
	noHeld := error(nil)
	if cfg.EvalScenes > 0 {
		// A held-out set that cannot be read stops the run before its first step: evaluation
		// silently off would leave a run without the curve it was started for. A folder too
		// small to hold a file out at its share runs without, and the log says so.
		spec.held, err = task.Source.HeldOut(cfg.ValSeed, cfg.EvalScenes)
		if errors.Is(err, images.ErrNoHeldOut) {
			noHeld, err = err, nil
		}
		if err != nil {
			return fmt.Errorf("held-out evaluation: %w (--eval-scenes 0 runs without it)", err)
		}
	}
	lp, err := openLoop(spec, d, g.l, obs)
	if err != nil {
		return err
	}
	defer lp.close()
	if resume {
		lp.run.logf("train: resumed at step %d from %s", at.step, at.model)
	}
	lp.run.logf("train: %d trainable parameters, %d ranks, B=%d images x G=%d samples per step; images: %s; reward: %s",
		g.l.flat.N, d.World(), cfg.Batch, cfg.Group, task.About, strings.Join(g.embedders, ","))
	if noHeld != nil {
		lp.run.logf("train: no held-out evaluation: %v", noHeld)
	}
	if err := lp.steps(at.step, cfg.Steps); err != nil {
		return err
	}
	sum, err := g.l.checksum()
	if err != nil {
		return err
	}
	lp.run.logf("train: done; weights crc %08x; %v; plots in %s", sum, g.l.opt, filepath.Join(cfg.Out, "plots"))
	return nil
}

// startPoint is where a run starts: the model file, and when resuming, the step and optimizer
// state of the run's newest checkpoint.
type startPoint struct {
	init  string // the --init model (the KL reference starts from it)
	model string // the policy's starting weights: --init, or the newest checkpoint
	step  int
	ckpt  string // the checkpoint folder resumed from ("" for a fresh start)
	state State  // its state.json
}

// findStart resolves --init and, with resume, the newest checkpoint of cfg.Out.
func findStart(cfg GRPOConfig, resume bool) (startPoint, error) {
	initPath, err := ResolveModel(cfg.Init)
	if err != nil {
		return startPoint{}, fmt.Errorf("--init: %w", err)
	}
	at := startPoint{init: initPath, model: initPath}
	if !resume {
		return at, nil
	}
	cks, err := Checkpoints(cfg.Out)
	if err != nil || len(cks) == 0 {
		return at, fmt.Errorf("--resume %s: no checkpoint to resume from (the run saves one every --ckpt-every steps)", cfg.Out)
	}
	at.ckpt = cks[len(cks)-1]
	at.model = checkpointModel(at.ckpt)
	if at.state, err = ReadState(at.ckpt); err != nil {
		return at, err
	}
	at.step = at.state.Step
	if at.step >= cfg.Steps {
		return at, fmt.Errorf("--resume: the run is already at step %d; pass --steps above it to go on", at.step)
	}
	return at, nil
}

// openGRPO loads the policy (and the KL reference), resolves the reward and the optional
// capabilities of the pieces, and builds the learner, restored when resuming and synchronised
// from rank 0. Close the result when done.
func openGRPO(cfg GRPOConfig, task Task, resume bool, d *Dist) (g *grpo, at startPoint, err error) {
	dev, err := ParseDevice(cfg.Device, d.LocalRank, d.ShareGPUs)
	if err != nil {
		return nil, at, err
	}
	if at, err = findStart(cfg, resume); err != nil {
		return nil, at, err
	}
	g = &grpo{cfg: cfg, task: task, d: d}
	defer func() {
		if err != nil {
			g.close()
			g = nil
		}
	}()
	model, err := task.Load(at.model, dev, LoadOptions{TrainVision: cfg.TrainVision})
	if err != nil {
		return g, at, err
	}
	if err := g.wire(model, at.model); err != nil {
		model.Close()
		return g, at, err
	}
	if cfg.Beta > 0 {
		// A policy with LoRA adapters is its own reference, adapters off: no copy is loaded.
		if g.ref = referenceOf(model); g.ref == nil {
			ro := LoadOptions{Frozen: true}
			if !cfg.TrainVision {
				ro.Share = model // the reference's vision tower is the policy's frozen one
			}
			if g.ref, err = task.Load(at.init, dev, ro); err != nil {
				model.Close()
				return g, at, fmt.Errorf("reference policy: %w", err)
			}
		}
		if g.refDrawer, _ = g.ref.(Drawer); cfg.Joint && g.refDrawer == nil {
			model.Close()
			return g, at, fmt.Errorf("reference policy: --joint needs it to draw images")
		}
	}
	if g.l, err = newLearner(model, d, Schedule{LR: cfg.LR, Warmup: cfg.Warmup}, cfg.ClipNorm, cfg.WeightDecay); err != nil {
		model.Close()
		return g, at, err
	}
	if at.ckpt != "" {
		if err := g.l.restoreOptimizer(at.ckpt, at.state); err != nil {
			return g, at, err
		}
	}
	return g, at, g.l.syncFromRank0()
}

// wire resolves the reward (a unified model, UMM-2, regenerates the images with its own generation
// direction, so the reward follows the weights being trained) and the optional capabilities the
// step uses.
func (g *grpo) wire(model Policy, from string) error {
	if g.task.Reward == nil {
		sd, ok := model.(reward.SelfDecoder)
		if !ok {
			return fmt.Errorf("train: the task has no reward and the policy does not decode images itself")
		}
		g.task.Reward = sd.Decoder()
	}
	g.embedders = g.task.Reward.Embedders()
	g.hidden = reward.CapabilitiesOf(g.task.Reward).Hidden
	g.skips, _ = g.task.Source.(SkipCounter)
	g.services, _ = g.task.Reward.(reward.StatsReporter)
	if g.cfg.ActivationCheckpointing {
		ck, ok := model.(Checkpointer)
		if !ok {
			return ConfigError{fmt.Errorf("--activation-checkpointing: the policy (%s) cannot checkpoint its activations; Hugging Face decoders (Qwen2, Llama, Qwen2.5-VL, Janus) can", from)}
		}
		ck.SetCheckpointing(true)
	}
	if g.cfg.Joint {
		var ok bool
		if g.drawer, ok = model.(Drawer); !ok {
			return ConfigError{fmt.Errorf("--joint: the policy (%s) does not draw images; it needs a unified model as --init", from)}
		}
	}
	return nil
}

// close frees the policy, its optimizer and the reference.
func (g *grpo) close() {
	if g.ref != nil {
		g.ref.Close()
		g.ref = nil
	}
	if g.l != nil {
		model := g.l.model
		g.l.close()
		model.Close()
		g.l = nil
	}
}

func (g *grpo) maxLen() int {
	if g.cfg.MaxLen > 0 {
		return g.cfg.MaxLen
	}
	return g.l.model.MaxLen()
}

// ReadRunConfig reads the config.json of a GRPO run folder (for --resume) into c, which holds the
// defaults of what the file leaves out: a GRPOConfig, or the command's whole configuration
// (Task.Config).
func ReadRunConfig(dir string, c any) error {
	js, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return fmt.Errorf("--resume %s: %w (is it a run folder of `trainer train`?)", dir, err)
	}
	if err := json.Unmarshal(js, c); err != nil {
		return fmt.Errorf("--resume %s: config.json is damaged: %w", dir, err)
	}
	return nil
}
