package trainer

import (
	"math"
	"path/filepath"
	"testing"
)

// drawAdvantages on a hand example, G = 2 captions x K = 2 drawings (oracle: the advantages
// computed by hand below), and with K = 1 it is exactly the caption's group advantage
// (oracle: Advantages, the path of one drawing per caption).
func TestDrawAdvantagesHandExample(t *testing.T) {
	// caption 0 drew 0.1 and 0.3 (mean 0.2), caption 1 drew 0.6 and 0.2 (mean 0.4)
	draws := []float64{0.1, 0.3, 0.6, 0.2}
	caps, capAdv, drawAdv, zero := drawAdvantages(draws, 2, 2, 1e-6, false)
	near := func(what string, got, want []float64) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-12 {
				t.Errorf("%s: %v, want %v", what, got, want)
				return
			}
		}
	}
	near("captions' rewards", caps, []float64{0.2, 0.4})
	near("captions' advantages (Dr. GRPO)", capAdv, []float64{-0.1, 0.1})
	near("drawings' advantages (Dr. GRPO)", drawAdv, []float64{-0.1, 0.1, 0.2, -0.2})
	if zero != 0 {
		t.Errorf("zeroStd %d", zero)
	}
	// Scaled by the std: each pair is +-d/(sqrt(2) d) = +-1/sqrt(2), up to eps.
	_, capAdv, drawAdv, _ = drawAdvantages(draws, 2, 2, 0, true)
	h := 1 / math.Sqrt2
	near("captions' advantages (scaled)", capAdv, []float64{-h, h})
	near("drawings' advantages (scaled)", drawAdv, []float64{-h, h, h, -h})

	one := []float64{0.1, 0.3, 0.6, 0.2}
	caps, capAdv, drawAdv, _ = drawAdvantages(one, 2, 1, 1e-6, true)
	want, _ := Advantages(one, 2, 1e-6, true)
	near("K=1 rewards", caps, one)
	near("K=1 captions' advantages", capAdv, want)
	near("K=1 drawings' advantages", drawAdv, want)
	if parts := meanParts([][]float64{{1, 3}, {3, 5}}, 2); parts[0][0] != 2 || parts[0][1] != 4 {
		t.Errorf("meanParts: %v, want [[2 4]]", parts)
	}
}

// spreadOf on the same hand example (oracle: the variances and Pearson's r computed by hand):
// within-caption variances 0.02 and 0.08, the captions' means 0.2 and 0.4 vary by 0.02, and the
// one-drawing advantages of the drawings' slices [0.1 0.6] and [0.3 0.2] (-0.25 0.25, 0.05 -0.05)
// against the deviations from the caption means (-0.1 0.2, 0.1 -0.2) correlate at
// 0.09/sqrt(0.13*0.10).
func TestDrawSpreadHandExample(t *testing.T) {
	s := spreadOf([]float64{0.1, 0.3, 0.6, 0.2}, 2, 2, 1e-6, false)
	rec := Record{}
	tl := &tally{}
	s.tally(tl)
	m := map[string]float64{}
	for _, name := range spreadNames {
		m["draw_spread:"+name] = tl.sums[tl.sumAt["draw_spread:"+name]]
	}
	spreadRecord(rec, m)
	for k, want := range map[string]float64{"draw_reward_var_within": 0.05, "draw_reward_var_between": 0.02,
		"draw_adv_corr": 0.09 / math.Sqrt(0.13*0.10)} {
		if math.Abs(rec[k]-want) > 1e-12 {
			t.Errorf("%s = %v, want %v", k, rec[k], want)
		}
	}
}

// With --draw-samples 1 a joint run is the joint run of one drawing per caption (the default,
// 0): the same metrics and final weights (oracle: the default path). With K = 2 the drawing half
// covers B*G*K drawings, and the step reports how the reward varies with the drawing.
func TestUnifiedGRPODrawSamples(t *testing.T) {
	init := unifiedBaseline(t)
	tmp := t.TempDir()
	recs := map[int][]Record{}
	for _, k := range []int{0, 1, 2} {
		c := smallUnifiedGRPO(init, filepath.Join(tmp, string(rune('a'+k))), 1, true)
		c.DrawSamples, c.Steps, c.EvalEvery = k, 2, 0
		if err := trainUnified(c, false, solo(t)); err != nil {
			t.Fatal(err)
		}
		recs[k] = readRecords(t, c.Out)
	}
	sameRecords(t, "draw-samples 1 and the default", recs[0], recs[1], keysOf(true), 0)
	if a, b := recs[0][1]["weights_crc"], recs[1][1]["weights_crc"]; a != b || a == 0 {
		t.Errorf("final weights: crc %v (default) and %v (draw-samples 1)", a, b)
	}
	if _, ok := recs[1][0]["draw_adv_corr"]; ok {
		t.Errorf("one drawing per caption reports draw_adv_corr")
	}
	two := recs[2][1]
	if two["draw_tokens"] != 2*recs[1][1]["draw_tokens"] {
		t.Errorf("K=2 draws %v codes, K=1 %v", two["draw_tokens"], recs[1][1]["draw_tokens"])
	}
	for _, k := range []string{"draw_reward_var_within", "draw_reward_var_between", "draw_adv_corr"} {
		if v, ok := two[k]; !ok || math.IsNaN(v) || v < -1 {
			t.Errorf("K=2: %s = %v (present %v)", k, v, ok)
		}
	}
}
