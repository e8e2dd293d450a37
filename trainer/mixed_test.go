package trainer

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/world"
	worldtask "github.com/unigrpo/unigrpo/world/task"
)

// roundBF16 rounds values to bfloat16 and back with libtorch's own conversion (the oracle).
func roundBF16(t *testing.T, x []float32) []float32 {
	t.Helper()
	a := raw.New(-1)
	out := make([]float32, len(x))
	a.CopyToFloat32(a.To(a.To(a.FromFloat32(x, int64(len(x))), raw.BFloat16), raw.Float32), out)
	if err := a.Free(); err != nil {
		t.Fatal(err)
	}
	return out
}

// A Flat over bfloat16 parameters reads them as float32, writes float32 values rounded to
// bfloat16 and reads their bfloat16 gradients as float32, all as libtorch converts them (oracle:
// libtorch's to(dtype)). Before, reading a bfloat16 parameter failed ("Type mismatched").
func TestFlatBFloat16Parameters(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	vals := []float32{1 + 1.0/1024, -3.14159, 0.1, 1e-3, 65504, -2}
	var params []policy.Param
	for i, n := range []int{2, 4} {
		src := vals[:n]
		if i == 1 {
			src = vals[2:]
		}
		x := ts.MustOfSlice(src).MustTotype(gotch.BFloat16, true)
		x.MustRequiresGrad_(true)
		defer x.MustDrop()
		params = append(params, policy.Param{Name: fmt.Sprint("p", i), Tensor: x, Shape: []int64{int64(n)}, Decay: true})
	}
	f := NewFlat(params, gotch.CPU)
	if !f.Mixed() || f.N != 6 {
		t.Fatalf("mixed %v, N %d: want a mixed vector of 6", f.Mixed(), f.N)
	}
	got := make([]float32, f.N)
	if err := f.ReadParams(got); err != nil {
		t.Fatal(err)
	}
	if want := roundBF16(t, vals); !slices.Equal(got, want) {
		t.Errorf("read %v, want the bfloat16 roundings %v", got, want)
	}
	next := []float32{0.3, 7.77, -1e-4, 2.5, 1000.1, 1.0 / 3}
	if err := f.WriteParams(next); err != nil {
		t.Fatal(err)
	}
	if err := f.ReadParams(got); err != nil {
		t.Fatal(err)
	}
	if want := roundBF16(t, next); !slices.Equal(got, want) {
		t.Errorf("after writing %v read %v, want %v", next, got, want)
	}
	// loss = sum_i c_i * p_i: the gradient of p is c, held in bfloat16.
	coef := []float32{0.5, -1.25, 3.3, 0.01, -7, 1.0 / 7}
	var loss *ts.Tensor
	for i, p := range params {
		c := ts.MustOfSlice(coef[f.Offset[i]:f.Offset[i+1]]).MustTotype(gotch.BFloat16, true)
		term := p.Tensor.MustMul(c, false).MustSum(gotch.Float, true)
		c.MustDrop()
		if loss == nil {
			loss = term
		} else {
			loss = loss.MustAdd(term, true)
			term.MustDrop()
		}
	}
	if err := loss.Backward(); err != nil {
		t.Fatal(err)
	}
	loss.MustDrop()
	if err := f.ReadGrads(got); err != nil {
		t.Fatal(err)
	}
	if want := roundBF16(t, coef); !slices.Equal(got, want) {
		t.Errorf("gradients %v, want %v", got, want)
	}
	if err := f.ReadGrads(got); err != nil || slices.ContainsFunc(got, func(g float32) bool { return g != 0 }) {
		t.Errorf("gradients after a read: %v (%v), want zeroed", got, err)
	}
}

// bf16Run trains the tiny Qwen2 fixture in bfloat16 with the optimizer on the host or the
// "device" (the CPU, through the device optimizer's code), with float32 masters.
func bf16Run(t *testing.T, out string, steps int, where string, resume bool) []Record {
	t.Helper()
	dir, load := qwen2TextPolicy(t, raw.BFloat16)
	c := smallGRPO(filepath.Join(dir, "model.safetensors"), out)
	c.Steps, c.EvalScenes, c.LR, c.CkptEvery, c.WeightDecay = steps, 0, 1e-2, 2, 0.1
	runRanksWith(t, 1, false, func(d *Dist) error {
		d.Optimizer = where
		rw, err := worldtask.NewReward(world.DefaultConfig(), "all")
		if err != nil {
			return err
		}
		task := Task{Source: worldtask.Source{World: world.DefaultConfig()}, Reward: rw, Load: load, About: "world scenes"}
		return Train(c.GRPOConfig, task, resume, d, nil)
	})
	recs, err := ReadRecords(filepath.Join(out, "metrics.jsonl"))
	if err != nil || len(recs) != steps {
		t.Fatalf("%s: %d records (%v), want %d", out, len(recs), err, steps)
	}
	return recs
}

// lastMasters returns the float32 masters of a run's newest checkpoint.
func lastMasters(t *testing.T, run string) []float32 {
	t.Helper()
	cks, err := Checkpoints(run)
	if err != nil || len(cks) == 0 {
		t.Fatalf("%s: no checkpoint (%v)", run, err)
	}
	_, opt, err := LoadState(cks[len(cks)-1], -1)
	if err != nil {
		t.Fatal(err)
	}
	if opt.Master == nil {
		t.Fatalf("%s: the checkpoint of a bfloat16 run holds no float32 masters", run)
	}
	return opt.Master
}

// Mixed precision: a bfloat16 policy trains with float32 masters. The host and the device
// optimizer give the same run (the same float32 arithmetic on the masters); a run resumed from
// its checkpoint at step 2 equals the uninterrupted one (the checkpoint keeps the masters); and
// the masters carry what bfloat16 cannot (they are not all representable in it). Oracles: the
// host path's float32 update, the uninterrupted run, libtorch's bfloat16 rounding.
func TestMixedPrecisionMasters(t *testing.T) {
	tmp := t.TempDir()
	host := bf16Run(t, filepath.Join(tmp, "host"), 4, "host", false)
	dev := bf16Run(t, filepath.Join(tmp, "device"), 4, "device", false)
	part := filepath.Join(tmp, "part")
	bf16Run(t, part, 2, "host", false)
	resumed := bf16Run(t, part, 4, "host", true)
	for i := range host {
		for _, k := range []string{"reward_mean", "loss", "kl", "grad_norm", "entropy"} {
			if x, y := host[i][k], dev[i][k]; math.Abs(x-y) > 1e-5*math.Max(1, math.Abs(x)) {
				t.Errorf("step %d %s: host %v, device %v", i+1, k, x, y)
			}
			if x, y := host[i][k], resumed[i][k]; x != y {
				t.Errorf("step %d %s: uninterrupted %v, resumed %v", i+1, k, x, y)
			}
		}
	}
	if host[3]["kl"] == 0 || host[3]["grad_norm"] == 0 {
		t.Fatalf("the policy did not move: %v", host[3])
	}
	m := lastMasters(t, filepath.Join(tmp, "host"))
	if r := lastMasters(t, part); !slices.Equal(m, r) {
		t.Errorf("masters of the resumed run differ from the uninterrupted run's")
	}
	d := lastMasters(t, filepath.Join(tmp, "device"))
	worst := 0.0
	for i := range m {
		worst = math.Max(worst, math.Abs(float64(m[i]-d[i])))
	}
	if worst > 1e-6 {
		t.Errorf("host and device masters differ by up to %g", worst)
	}
	rounded := roundBF16(t, m)
	if slices.Equal(rounded, m) {
		t.Errorf("every master is a bfloat16 value: the optimizer is not keeping float32 masters")
	}
}
