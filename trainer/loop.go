package trainer

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/eval"
	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/cmem"
	"github.com/unigrpo/unigrpo/plots"
	"github.com/unigrpo/unigrpo/reward"
)

// Intervals say how often a loop does its bookkeeping, in steps. 0 means only at the last step,
// except for Check, where 0 means never.
type Intervals struct {
	Log, Eval, Ckpt, Plot, Check int
	Keep                         int // checkpoints kept
}

// loopSpec is everything a loop needs, given at once by SFT and GRPO.
type loopSpec struct {
	what     string // "sft" or "train"
	dir      string // the run folder
	config   any    // written to config.json and recorded in checkpoints
	resumeAt int    // the step a resumed run goes on from; < 0 starts a new run
	force    bool   // a new run may start in a non-empty folder, moving its files aside
	kind     string // the checkpoints' kind: "sft" or "grpo"
	seed     uint64
	every    Intervals
	monitor  float64 // seconds between device readings (0: none)
	// held is the held-out set evaluated every every.Eval steps (nil or empty: no evaluation),
	// with the reward and judge that score it.
	held     *images.Set
	evalSeed uint64
	reward   reward.Reward
	judge    eval.Judge
	step     func(step int) (Record, error)
	// baseline evaluates the starting policy before a new run's first step (plots.BaselineFile),
	// so that the held-out curve starts at step 0.
	baseline bool
	// final, when set, receives the last step's held-out evaluation.
	final func(*eval.Result) error
}

// loop is what SFT and GRPO share around their step function: held-out evaluation, weight
// checksums over ranks, device readings, metrics, plots and checkpoints. Every rank runs it;
// only rank 0 writes.
type loop struct {
	loopSpec
	run *runFolder
	d   *Dist
	l   *learner
	dv  *devices
}

// openLoop opens the run folder and the device monitor.
func openLoop(spec loopSpec, d *Dist, l *learner, obs Observer) (*loop, error) {
	run, err := openRun(spec.dir, d.Rank() == 0, spec.config, spec.resumeAt, spec.force, obs)
	if err := d.agree(err, "opening the run folder"); err != nil {
		if run != nil {
			run.close()
		}
		return nil, err
	}
	dev := l.model.Device()
	dv, notice, err := startDevices(time.Duration(spec.monitor*float64(time.Second)), dev != gotch.CPU, max(0, int(dev.CInt())))
	if err != nil {
		run.close()
		return nil, err
	}
	if notice != "" {
		run.logf("%s", notice)
	}
	return &loop{loopSpec: spec, run: run, d: d, l: l, dv: dv}, nil
}

// state is what a checkpoint of step records besides the weights.
func (lp *loop) state(step int) State {
	js, _ := json.Marshal(lp.config)
	return State{Kind: lp.kind, Seed: lp.seed, Step: step, Config: js}
}

func (lp *loop) close() error {
	lp.dv.stop()
	return lp.run.close()
}

// due reports whether an interval falls on step (always at the last step).
func due(every, step int, last bool) bool { return last || (every > 0 && step%every == 0) }

// steps runs steps first+1..total.
func (lp *loop) steps(first, total int) error {
	obs := lp.run.obs
	obs.Begin(lp.what, first, total)
	defer obs.End()
	if lp.baseline && lp.resumeAt < 0 && lp.evaluates() {
		if err := lp.writeBaseline(); err != nil {
			return err
		}
	}
	lastGood := first
	for step := first + 1; step <= total; step++ {
		t0 := time.Now()
		rec, err := lp.step(step)
		if err != nil {
			if lastGood > 0 {
				lp.run.logf("stopping at step %d; the newest checkpoint (step %d) is the last good state", step, lastGood)
			}
			return err
		}
		addRates(rec, time.Since(t0).Seconds())
		last := step == total
		trimmed, err := lp.evalStep(rec, step, last)
		if err != nil {
			return err
		}
		if err := lp.checkStep(rec, step, last); err != nil {
			return err
		}
		logNow := due(lp.every.Log, step, last)
		if logNow {
			if err := lp.readDevices(rec, trimmed); err != nil {
				return err
			}
		}
		if lp.run.primary {
			if err := lp.record(rec, logNow); err != nil {
				return err
			}
		}
		if due(lp.every.Ckpt, step, last) {
			if err := checkpoint(lp.run, lp.l, lp.state(step), lp.every.Keep); err != nil {
				return err
			}
			lastGood = step
		}
		// Plots come after the step's checkpoint: a figure that cannot be drawn is logged and
		// never costs the run its weights.
		if lp.run.primary && due(lp.every.Plot, step, last) {
			if err := drawPlots(lp.run); err != nil {
				lp.run.logf("plots: %v", err)
			}
		}
	}
	return nil
}

// writeBaseline evaluates the starting policy and writes its held-out reward as step 0
// (plots.BaselineFile).
func (lp *loop) writeBaseline() error {
	res, err := lp.evaluate()
	if err != nil {
		return fmt.Errorf("held-out evaluation of the starting policy: %w", err)
	}
	rec := Record{"step": 0}
	lp.addEval(rec, res)
	if err := lp.run.writeJSON(plots.BaselineFile, rec); err != nil {
		return err
	}
	lp.run.logf("%s: held-out reward of the starting policy %.4f (step 0, %s)", lp.what, rec["eval_reward"], plots.BaselineFile)
	return nil
}

// addRates adds a step's time dt (seconds) to its record and the rates it gives.
func addRates(rec Record, dt float64) {
	rec["step_time"] = dt
	rec["tokens_per_s"] = rec["tokens"] / dt
	if rt, ok := rec["reward_time"]; ok {
		rec["reward_share"] = rt / dt // the reward's share of the step time
	}
	if n, ok := rec["samples"]; ok {
		rec["samples_per_s"] = n / dt
	}
}

// evalStep runs the held-out evaluation when it is due at step and adds it to rec, handing the
// last step's to lp.final; it reports whether it returned the freed heap (cmem.Trim).
func (lp *loop) evalStep(rec Record, step int, last bool) (trimmed bool, err error) {
	if !lp.evaluates() || !due(lp.every.Eval, step, last) {
		return false, nil
	}
	res, err := lp.evaluate()
	if err != nil {
		return false, err
	}
	cmem.Trim() // the evaluation's large batches would otherwise stay resident
	lp.addEval(rec, res)
	if last && lp.final != nil {
		if err := lp.final(res); err != nil {
			return true, err
		}
	}
	return true, nil
}

// checkStep, when due at step, checks that every rank holds the same weights and adds their
// checksum to rec.
func (lp *loop) checkStep(rec Record, step int, last bool) error {
	if lp.every.Check <= 0 || !due(lp.every.Check, step, last) {
		return nil
	}
	sum, err := lp.l.checksum()
	if err != nil {
		return err
	}
	if err := lp.d.CheckSame(sum, step); err != nil {
		return err
	}
	rec["weights_crc"] = float64(sum)
	return nil
}

// readDevices adds the device readings to rec, first returning freed heap unless the step's
// evaluation did (trimmed).
func (lp *loop) readDevices(rec Record, trimmed bool) error {
	if !trimmed {
		cmem.Trim() // return freed heap at each log interval (see cmem)
	}
	f, err := lp.dv.fields(lp.d)
	if err != nil {
		return err
	}
	for k, v := range f {
		rec[k] = v
	}
	return nil
}

// record appends rec to the metrics (flushed when logNow) and shows it to the observer; rank 0
// only.
func (lp *loop) record(rec Record, logNow bool) error {
	if err := lp.run.metrics.Append(rec); err != nil {
		return err
	}
	lp.run.obs.Step(rec)
	if logNow {
		if err := lp.run.metrics.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// drawPlots draws the run's figures from its metrics. A panic inside the plotting library (on
// data it cannot lay out) is returned as an error: figures are a view of the run, not part of it.
func drawPlots(run *runFolder) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("drawing the figures failed: %v", p)
		}
	}()
	m, err := plots.ReadRun(filepath.Join(run.dir, "metrics.jsonl"))
	if err != nil {
		return err
	}
	dir := filepath.Join(run.dir, "plots")
	if err := plots.TrainingDynamics(m, dir); err != nil {
		return err
	}
	if s := plots.DeviceSamplesFromMetrics(m); len(s) > 0 {
		return plots.Devices(s, dir)
	}
	return nil
}
