package trainer

import (
	"math"
	"testing"
)

func TestAdamWFirstStepsHandComputed(t *testing.T) {
	o := NewAdamW(2, 0.9, 0.999, 1e-8, 0.1)
	p := []float32{1, -2}
	if err := o.Update(p, []float32{0.5, -0.25}, []Segment{{0, 1, true}, {1, 2, false}}, 0.01); err != nil {
		t.Fatal(err)
	}
	// Step 1: m_hat = g, v_hat = g^2, so the step is lr * sign(g) (up to eps); decay on p[0] only.
	near(t, "p0", float64(p[0]), 1*(1-0.01*0.1)-0.01, 1e-6)
	near(t, "p1", float64(p[1]), -2+0.01, 1e-6)
	// Step 2 with zero gradient: m = 0.9*0.05 = 0.045, v = 0.999*0.00025; bias-corrected.
	prev := p[1]
	if err := o.Update(p, []float32{0, 0}, []Segment{{0, 1, true}, {1, 2, false}}, 0.01); err != nil {
		t.Fatal(err)
	}
	m := 0.9 * 0.1 * -0.25
	v := 0.999 * 0.001 * 0.0625
	mh, vh := m/(1-0.81), v/(1-0.999*0.999)
	near(t, "p1 step 2", float64(p[1]), float64(prev)-0.01*mh/(math.Sqrt(vh)+1e-8), 1e-6)
	if err := o.Update(p[:1], []float32{0}, nil, 0.01); err == nil {
		t.Fatal("size mismatch accepted")
	}
}

func TestClipGradNorm(t *testing.T) {
	g := []float32{3, 4}
	n := ClipGradNorm(g, 1)
	near(t, "norm", n, 5, 1e-9)
	near(t, "clipped norm", math.Hypot(float64(g[0]), float64(g[1])), 1, 1e-5)
	g = []float32{0.3, 0.4}
	ClipGradNorm(g, 1)
	if g[0] != 0.3 || g[1] != 0.4 {
		t.Fatalf("small gradient changed: %v", g)
	}
	g = []float32{float32(math.NaN()), 1}
	if n := ClipGradNorm(g, 1); !math.IsNaN(n) {
		t.Fatalf("NaN gradient gave norm %v", n)
	}
}

func TestSchedule(t *testing.T) {
	s := Schedule{LR: 1, Warmup: 10, Total: 110, Cosine: true, MinRatio: 0.1}
	near(t, "warmup", s.At(5), 0.5, 1e-12)
	near(t, "peak", s.At(10), 1, 1e-12)
	near(t, "half", s.At(60), 0.1+0.9*0.5, 1e-12)
	near(t, "end", s.At(110), 0.1, 1e-12)
	near(t, "after end", s.At(500), 0.1, 1e-12)
	near(t, "constant", Schedule{LR: 2}.At(7), 2, 0)
}
