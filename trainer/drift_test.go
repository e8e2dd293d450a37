package trainer

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// driftRun trains the tiny Qwen2 fixture, loaded as kind, for steps AdamW updates on gradients of
// a loss that depends on the weights (optimizerRun.backward's), and returns the trainable values
// it ends with: the float32 masters of a mixed run, the parameters otherwise. With plain set, a
// bfloat16 run drops its masters after every update (the optimizer restarts from the rounded
// parameters): plain bfloat16 AdamW.
func driftRun(t *testing.T, kind raw.Kind, plain bool, steps int) []float32 {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir, load := qwen2TextPolicy(t, kind)
	m, err := load(dir, gotch.CPU, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d := solo(t)
	d.Optimizer = "host"
	l, err := newLearner(m, d, Schedule{LR: 1e-3, Warmup: 3}, 1, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	h := l.opt.(*hostOptimizer)
	rng := rand.New(rand.NewPCG(11, 12))
	r := &optimizerRun{l: l}
	for step := 1; step <= steps; step++ {
		r.backward(t, rng)
		if _, _, err := l.update(step); err != nil {
			t.Fatal(err)
		}
		if plain {
			if err := l.flat.ReadParams(h.values[:l.flat.N]); err != nil {
				t.Fatal(err)
			}
		}
	}
	out := make([]float32, l.flat.N)
	copy(out, h.values)
	return out
}

func rmsDiff(a, b []float32) float64 {
	var ss float64
	for i := range a {
		d := float64(a[i] - b[i])
		ss += d * d
	}
	return math.Sqrt(ss / float64(len(a)))
}

// Mixed precision earns its masters: over 20 updates of the bfloat16 Qwen2 fixture, the float32
// masters follow a float32 run closely, while plain bfloat16 AdamW (no masters: each update is
// rounded into the weights, and updates below half a bfloat16 step vanish) drifts much further.
// Oracle: the float32 run of the same model and the same gradient function.
func TestMixedPrecisionDrift(t *testing.T) {
	const steps = 20
	ref := driftRun(t, raw.Float32, false, steps)
	mixed := driftRun(t, raw.BFloat16, false, steps)
	plain := driftRun(t, raw.BFloat16, true, steps)
	start := driftRun(t, raw.Float32, false, 0)
	moved := rmsDiff(ref, start)
	dm, dp := rmsDiff(mixed, ref), rmsDiff(plain, ref)
	t.Logf("after %d updates (RMS over %d values): float32 run moved %.3g; masters off it by %.3g (%.1f%%), plain bfloat16 by %.3g (%.1f%%)",
		steps, len(ref), moved, dm, 100*dm/moved, dp, 100*dp/moved)
	if dm > 0.1*moved {
		t.Errorf("the float32 masters drift %.3g from the float32 run, over a tenth of its movement %.3g", dm, moved)
	}
	if dp < 2*dm {
		t.Errorf("plain bfloat16 AdamW drifts %.3g, not clearly more than the masters' %.3g: the test does not show what the masters are for", dp, dm)
	}
}
