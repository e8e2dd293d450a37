package trainer

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/collective"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/captioner"
	"github.com/unigrpo/unigrpo/world"
	worldtask "github.com/unigrpo/unigrpo/world/task"
)

// shardedRun is a GRPO run of the world model with warmup, weight decay and a clip that acts,
// on world ranks, with the optimizer sharded or not.
func shardedRun(t *testing.T, init, out string, world, steps int, shard bool, opt string, fused bool) []Record {
	t.Helper()
	c := smallGRPO(init, out)
	c.Steps, c.Warmup, c.WeightDecay, c.ClipNorm, c.LR = steps, 3, 0.1, 0.05, 3e-3
	c.EvalEvery, c.EvalScenes, c.CkptEvery, c.Keep = 0, 0, 5, 0
	runRanksWith(t, world, fused, func(d *Dist) error {
		d.Shard, d.Optimizer = shard, opt
		return trainWorld(c, false, d)
	})
	recs, err := ReadRecords(filepath.Join(out, "metrics.jsonl"))
	if err != nil || len(recs) != steps {
		t.Fatalf("%s: %d records (%v), want %d", out, len(recs), err, steps)
	}
	return recs
}

// checkpointFiles returns the bytes of a run's checkpoint files of step.
func checkpointFiles(t *testing.T, run string, step int) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range []string{modelFile, optimFile} {
		b, err := os.ReadFile(filepath.Join(run, checkpointDir, CheckpointName(step), f))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = b
	}
	return out
}

// ZeRO-1 is an exact rearrangement: on 2 and 4 ranks of the CPU ring, 20 steps with warmup,
// weight decay and an active clip give the same metrics, the same weights and byte-identical
// checkpoints (written by every rank in parallel when sharded, by rank 0 alone when not) as the
// replicated optimizer, for the host and the device optimizer, with and without the fused
// gradient buffer. Oracle: the replicated optimizer (itself checked against one rank in
// TestWorldSizeInvariance and against hand-computed AdamW steps).
func TestShardedOptimizerMatchesReplicatedBits(t *testing.T) {
	init := baseline(t)
	tmp := t.TempDir()
	type variant struct {
		world int
		opt   string
		fused bool
	}
	for _, v := range []variant{{2, "host", false}, {4, "host", false}, {2, "device", false}, {4, "device", true}, {2, "host", true}} {
		name := fmt.Sprintf("%d-%s-%v", v.world, v.opt, v.fused)
		rep := shardedRun(t, init, filepath.Join(tmp, name+"-rep"), v.world, 20, false, v.opt, v.fused)
		sh := shardedRun(t, init, filepath.Join(tmp, name+"-shard"), v.world, 20, true, v.opt, v.fused)
		log, _ := os.ReadFile(filepath.Join(tmp, name+"-shard", "log.txt"))
		if !bytes.Contains(log, []byte(fmt.Sprintf("sharded over %d ranks", v.world))) {
			t.Fatalf("%s: the sharded run's log does not say its optimizer was sharded:\n%s", name, log)
		}
		clipped := 0
		for i := range rep {
			for _, k := range []string{"reward_mean", "loss", "kl", "grad_norm", "lr", "length_mean"} {
				if rep[i][k] != sh[i][k] {
					t.Errorf("%s step %d %s: replicated %v, sharded %v", name, i+1, k, rep[i][k], sh[i][k])
				}
			}
			if rep[i]["grad_norm"] > 0.05 {
				clipped++
			}
		}
		if clipped == 0 {
			t.Errorf("%s: the clip never acted; the test does not cover it", name)
		}
		for _, step := range []int{5, 20} {
			a, b := checkpointFiles(t, filepath.Join(tmp, name+"-rep"), step), checkpointFiles(t, filepath.Join(tmp, name+"-shard"), step)
			for f := range a {
				if !bytes.Equal(a[f], b[f]) {
					t.Errorf("%s step %d: %s differs between replicated and sharded", name, step, f)
				}
			}
		}
	}
}

// Each rank of a sharded optimizer holds 1/N of the optimizer state: its moments cover its block
// of ceil(N/W) values, and the blocks of all ranks cover the N values once. Oracle: the counts of
// the replicated state (2 x N float32 per rank).
func TestShardedOptimizerStateIsOneNth(t *testing.T) {
	for _, where := range []string{"host", "device"} {
		for _, world := range []int{2, 4} {
			owned := make([]int, world)
			var n int
			runRanks(t, world, func(d *Dist) error {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				d.Shard, d.Optimizer = true, where
				m, err := captioner.New(tinyModel(), tinyDevice, 7)
				if err != nil {
					return err
				}
				defer m.Close()
				l, err := newLearner(m, d, Schedule{LR: 1e-3}, 1, 0)
				if err != nil {
					return err
				}
				defer l.close()
				st, err := l.state()
				if err != nil {
					return err
				}
				if len(st.V) != len(st.M) {
					return fmt.Errorf("moments of %d and %d values", len(st.M), len(st.V))
				}
				owned[d.Rank()], n = len(st.M), l.flat.N
				return nil
			})
			total := 0
			for r, k := range owned {
				total += k
				if k > (n+world-1)/world {
					t.Errorf("%s world %d: rank %d holds the moments of %d values, more than ceil(%d/%d)", where, world, r, k, n, world)
				}
			}
			if total != n {
				t.Errorf("%s world %d: the ranks hold %d values' moments between them, want N = %d", where, world, total, n)
			}
			t.Logf("%s world %d: bytes of moments per rank %v (replicated: %d)", where, world, scale(owned, 8), 8*n)
		}
	}
}

func scale(x []int, k int) []int {
	out := make([]int, len(x))
	for i, v := range x {
		out[i] = v * k
	}
	return out
}

// A checkpoint does not depend on the number of ranks that wrote it: a run saved on 4 sharded
// ranks resumes on 2, saved again resumes on 1, and ends where the uninterrupted run on 4 ends.
// Oracle: the uninterrupted run; across world sizes the ring's sums run in other orders, so the
// tolerance is TestWorldSizeInvariance's.
func TestShardedResumeAcrossWorldSizes(t *testing.T) {
	init := baseline(t)
	tmp := t.TempDir()
	full := shardedRun(t, init, filepath.Join(tmp, "full"), 4, 15, true, "host", false)
	part := filepath.Join(tmp, "part")
	shardedRun(t, init, part, 4, 5, true, "host", false)
	for _, leg := range []struct{ world, steps int }{{2, 10}, {1, 15}} {
		cfg, err := readTestRun(part)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Steps = leg.steps
		runRanks(t, leg.world, func(d *Dist) error { d.Shard = leg.world > 1; return trainWorld(cfg, true, d) })
	}
	resumed, err := ReadRecords(filepath.Join(part, "metrics.jsonl"))
	if err != nil || len(resumed) != 15 {
		t.Fatalf("resumed run: %d records (%v)", len(resumed), err)
	}
	for i := range full {
		for _, k := range []string{"reward_mean", "loss", "kl", "grad_norm"} {
			if x, y := full[i][k], resumed[i][k]; math.Abs(x-y) > 1e-4*math.Max(1, math.Abs(x)) {
				t.Errorf("step %d %s: uninterrupted %v, resumed 4->2->1 %v", i+1, k, x, y)
			}
		}
	}
	pa, _ := ResolveModel(filepath.Join(tmp, "full"))
	pb, _ := ResolveModel(part)
	if d := maxWeightDiff(t, pa, pb); d > 1e-4 {
		t.Errorf("weights after 4->2->1 differ from the uninterrupted run by up to %g", d)
	}
	_, a, err := LoadState(filepath.Join(tmp, "full", checkpointDir, CheckpointName(15)), -1)
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := LoadState(filepath.Join(part, checkpointDir, CheckpointName(15)), -1)
	if err != nil {
		t.Fatal(err)
	}
	if a.Step != 15 || b.Step != 15 {
		t.Errorf("update counts %d and %d, want 15", a.Step, b.Step)
	}
	if d := maxDiff(a.V, b.V); d > 1e-6 {
		t.Errorf("second moments after 4->2->1 differ by up to %g", d)
	}
}

// Mixed precision sharded: on 2 ranks the bfloat16 Qwen2 fixture trains to the same metrics and
// the same float32 masters in the checkpoint (each rank wrote its block) as the replicated
// optimizer, host and device paths. Oracle: the replicated optimizer.
func TestShardedMixedPrecisionMatchesReplicated(t *testing.T) {
	tmp := t.TempDir()
	dir, load := qwen2TextPolicy(t, raw.BFloat16)
	run := func(out, where string, shard bool) []Record {
		c := smallGRPO(filepath.Join(dir, "model.safetensors"), out)
		c.Steps, c.EvalScenes, c.LR, c.CkptEvery, c.WeightDecay = 3, 0, 1e-2, 3, 0.1
		runRanks(t, 2, func(d *Dist) error {
			d.Optimizer, d.Shard = where, shard
			rw, err := worldtask.NewReward(world.DefaultConfig(), "all")
			if err != nil {
				return err
			}
			task := Task{Source: worldtask.Source{World: world.DefaultConfig()}, Reward: rw, Load: load, About: "world scenes"}
			return Train(c.GRPOConfig, task, false, d, nil)
		})
		recs, err := ReadRecords(filepath.Join(out, "metrics.jsonl"))
		if err != nil || len(recs) != 3 {
			t.Fatalf("%s: %d records (%v)", out, len(recs), err)
		}
		return recs
	}
	for _, where := range []string{"host", "device"} {
		rep := run(filepath.Join(tmp, where+"-rep"), where, false)
		sh := run(filepath.Join(tmp, where+"-shard"), where, true)
		for i := range rep {
			for _, k := range []string{"reward_mean", "loss", "kl", "grad_norm"} {
				if rep[i][k] != sh[i][k] {
					t.Errorf("%s step %d %s: replicated %v, sharded %v", where, i+1, k, rep[i][k], sh[i][k])
				}
			}
		}
		a, b := lastMasters(t, filepath.Join(tmp, where+"-rep")), lastMasters(t, filepath.Join(tmp, where+"-shard"))
		if !slices.Equal(a, b) {
			t.Errorf("%s: the sharded run's float32 masters differ from the replicated run's", where)
		}
	}
}

// --grad-reduce-dtype bfloat16: gradients travel the ring in half the bytes. The run follows the
// float32-wire run closely without equalling it (the wire rounds), sharded and replicated give the
// same bits with it too (the same rounding in both), and a communicator that cannot do it is
// refused before the first step. Oracle: the float32-wire run.
func TestBFloat16GradientWire(t *testing.T) {
	init := baseline(t)
	tmp := t.TempDir()
	run := func(name string, shard bool, wire collective.Wire) []Record {
		c := smallGRPO(init, filepath.Join(tmp, name))
		c.Steps, c.EvalScenes, c.CkptEvery = 3, 0, 3
		runRanks(t, 2, func(d *Dist) error { d.Shard, d.GradWire = shard, wire; return trainWorld(c, false, d) })
		recs, err := ReadRecords(filepath.Join(c.Out, "metrics.jsonl"))
		if err != nil || len(recs) != 3 {
			t.Fatalf("%s: %d records (%v)", name, len(recs), err)
		}
		return recs
	}
	f32 := run("f32", false, collective.WireFloat32)
	bf := run("bf16", false, collective.WireBFloat16)
	bfShard := run("bf16-shard", true, collective.WireBFloat16)
	for i := range f32 {
		if x, y := f32[i]["grad_norm"], bf[i]["grad_norm"]; math.Abs(x-y) > 1e-2*x {
			t.Errorf("step %d grad_norm: float32 wire %v, bfloat16 wire %v", i+1, x, y)
		}
		if bf[i]["grad_norm"] != bfShard[i]["grad_norm"] || bf[i]["loss"] != bfShard[i]["loss"] {
			t.Errorf("step %d: bfloat16 wire replicated %v/%v, sharded %v/%v", i+1, bf[i]["grad_norm"], bf[i]["loss"], bfShard[i]["grad_norm"], bfShard[i]["loss"])
		}
	}
	pa, _ := ResolveModel(filepath.Join(tmp, "f32"))
	pb, _ := ResolveModel(filepath.Join(tmp, "bf16"))
	if d := maxWeightDiff(t, pa, pb); d == 0 || d > 1e-3 {
		t.Errorf("weights after a bfloat16 wire differ from the float32 wire's by %g: want small but not zero", d)
	}
	c := smallGRPO(init, filepath.Join(tmp, "fused"))
	c.Steps = 1
	errs := make([]error, 2)
	runRanksWith(t, 2, true, func(d *Dist) error {
		d.GradWire = collective.WireBFloat16
		errs[d.Rank()] = trainWorld(c, false, d)
		return nil
	})
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "reduces float32 only") {
		t.Errorf("a float32-only gradient communicator with a bfloat16 wire: %v", errs[0])
	}
}
