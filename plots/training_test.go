package plots

import (
	"math"
	"os"
	"testing"
)

// The training sheet draws a joint run's drawing-half KL and entropy beside the caption's, and a
// run without them as before: one curve per panel. (Oracle: the metric keys the trainer writes.)
func TestSheetJointCurves(t *testing.T) {
	for _, joint := range []bool{false, true} {
		m := NewMetrics()
		for step := 1.0; step <= 3; step++ {
			for _, k := range []string{"kl", "entropy", "loss", "grad_norm", "clip_low", "clip_high"} {
				m.Add(k, step, step/10)
			}
			if joint {
				m.Add("draw_kl", step, step/5)
				m.Add("draw_entropy", step, 2)
			}
		}
		want := map[string][]string{"KL to reference (k3)": {"kl"}, "Policy entropy": {"entropy"}}
		if joint {
			want = map[string][]string{"KL to reference (k3)": {"kl", "draw_kl"}, "Policy entropy": {"entropy", "draw_entropy"}}
		}
		for _, p := range sheetFor(m) {
			keys, ok := want[p.title]
			if !ok {
				continue
			}
			delete(want, p.title)
			if len(p.curves) != len(keys) {
				t.Fatalf("joint %v: panel %q has %d curves, want %v", joint, p.title, len(p.curves), keys)
			}
			for i, c := range p.curves {
				if c.label != keys[i] || len(c.xys) != 3 {
					t.Errorf("joint %v: panel %q curve %d is %q with %d points, want %q with 3", joint, p.title, i, c.label, len(c.xys), keys[i])
				}
			}
		}
		if len(want) > 0 {
			t.Errorf("joint %v: panels missing: %v", joint, want)
		}
	}
}

// A run whose one step has values as large as 1e160 (and a NaN) draws its figures without a
// panic: gonum pads a one-value axis by 1, lost at that magnitude, so the panel widens it
// relatively. Oracle: the files written, and the absence of a panic.
func TestDynamicsOfHugeSinglePoint(t *testing.T) {
	m := NewMetrics()
	for _, k := range []string{"reward_mean", "reward_max", "reward_min", "loss", "grad_norm", "kl", "entropy"} {
		m.Add(k, 1, 1e160)
	}
	m.Add("reward_std", 1, math.NaN())
	dir := t.TempDir()
	if err := TrainingDynamics(m, dir); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) == 0 {
		t.Fatal("no figure written")
	}
}
