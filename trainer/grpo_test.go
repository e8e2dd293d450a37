package trainer

import (
	"math"
	"testing"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol {
		t.Errorf("%s = %.9g, want %.9g", what, got, want)
	}
}

func TestAdvantagesHandComputed(t *testing.T) {
	adv, zero := Advantages([]float64{1, 2, 3, 4, 0.5, 0.5, 0.5, 0.5}, 4, 1e-6, true)
	// mean 2.5, unbiased std sqrt(5/3) = 1.2909944
	std := math.Sqrt(5.0 / 3.0)
	for i, x := range []float64{1, 2, 3, 4} {
		near(t, "adv", adv[i], (x-2.5)/(std+1e-6), 1e-12)
	}
	for i := 4; i < 8; i++ {
		if adv[i] != 0 {
			t.Errorf("equal rewards: adv[%d] = %v, want exactly 0", i, adv[i])
		}
	}
	if zero != 1 {
		t.Errorf("zeroStd = %d, want 1", zero)
	}
	centred, _ := Advantages([]float64{1, 3}, 2, 1e-6, false)
	near(t, "dr-grpo adv", centred[0], -1, 0)
	near(t, "dr-grpo adv", centred[1], 1, 0)
}

func TestAdvantagesNeverNaN(t *testing.T) {
	adv, zero := Advantages([]float64{0.3, 0.3, 0.3, 0.3}, 4, 0, true)
	for _, a := range adv {
		if a != 0 {
			t.Fatalf("adv = %v with eps 0 and equal rewards, want 0", adv)
		}
	}
	if zero != 1 {
		t.Fatalf("zeroStd = %d", zero)
	}
}

func TestObjectiveClippingHandComputed(t *testing.T) {
	ln := math.Log
	// Four one-token trajectories, seq-mean-token-mean, N = 4, one rank.
	tr := Trajectories{
		Len:  []int{1, 1, 1, 1},
		Old:  [][]float64{{0}, {0}, {0}, {0}},
		LogP: [][]float64{{0}, {ln(1.5)}, {ln(0.5)}, {ln(1.5)}},
		Adv:  []float64{1, 1, -1, -1},
	}
	o := ObjectiveOptions{EpsLow: 0.2, EpsHigh: 0.2, Agg: SeqMeanTokenMean, GlobalN: 4, GlobalTokens: 4, World: 1}
	res, err := Objective(tr, o)
	if err != nil {
		t.Fatal(err)
	}
	// pg: r=1,A=1 -> -1; r=1.5,A=1 -> max(-1.5,-1.2) = -1.2 (clipped);
	// r=0.5,A=-1 -> max(0.5,0.8) = 0.8 (clipped); r=1.5,A=-1 -> max(1.5,1.2) = 1.5.
	near(t, "loss", res.Loss, (-1-1.2+0.8+1.5)/4, 1e-12)
	want := []float64{-1.0 / 4, 0, 0, 1.5 / 4}
	for i, w := range want {
		near(t, "coef", res.Coef[i][0], w, 1e-12)
	}
	near(t, "clip_high", res.ClipHigh, 0.25, 0)
	near(t, "clip_low", res.ClipLow, 0.25, 0)
}

func TestObjectiveKLAndAggregation(t *testing.T) {
	// One trajectory of 2 tokens (plus padding) and one of 1, ratio 1, beta 0.5.
	tr := Trajectories{
		Len:  []int{2, 1},
		LogP: [][]float64{{-1, -2, 9}, {-0.5, 9, 9}},
		Old:  [][]float64{{-1, -2, 9}, {-0.5, 9, 9}},
		Ref:  [][]float64{{-0.5, -2, 9}, {-0.5, 9, 9}},
		Adv:  []float64{2, -1},
	}
	kl := math.Exp(0.5) - 0.5 - 1 // token 0 of trajectory 0, d = 0.5
	dkl := 1 - math.Exp(0.5)
	l0 := []float64{-2 + 0.5*kl, -2}
	l1 := 1.0
	cases := []struct {
		agg  LossAgg
		w    []float64
		opts ObjectiveOptions
	}{
		{SeqMeanTokenMean, []float64{1.0 / (2 * 2), 1.0 / (1 * 2)}, ObjectiveOptions{GlobalN: 2, World: 1}},
		{TokenMean, []float64{1.0 / 3, 1.0 / 3}, ObjectiveOptions{GlobalTokens: 3, World: 1}},
		{DrGRPO, []float64{1.0 / (2 * 4), 1.0 / (2 * 4)}, ObjectiveOptions{GlobalN: 2, MaxLen: 4, World: 1}},
		// Two ranks: this rank's share is scaled by the world size (gradients are averaged).
		{TokenMean, []float64{2.0 / 6, 2.0 / 6}, ObjectiveOptions{GlobalTokens: 6, World: 2}},
	}
	for _, c := range cases {
		o := c.opts
		o.EpsLow, o.EpsHigh, o.Beta, o.Agg = 0.2, 0.2, 0.5, c.agg
		res, err := Objective(tr, o)
		if err != nil {
			t.Fatal(err)
		}
		near(t, string(c.agg)+" loss", res.Loss, c.w[0]*(l0[0]+l0[1])+c.w[1]*l1, 1e-12)
		near(t, string(c.agg)+" coef[0][0]", res.Coef[0][0], c.w[0]*(-2+0.5*dkl), 1e-12)
		near(t, string(c.agg)+" coef[0][1]", res.Coef[0][1], c.w[0]*(-2), 1e-12)
		near(t, string(c.agg)+" coef[1][0]", res.Coef[1][0], c.w[1]*1, 1e-12)
		near(t, string(c.agg)+" padding coef", res.Coef[0][2], 0, 0)
		near(t, "kl", res.KL, kl/3, 1e-12)
	}
}

// The coefficients are the derivative of the loss: check them by finite differences on random
// inputs away from the clipping boundaries.
func TestObjectiveCoefIsGradient(t *testing.T) {
	tr := Trajectories{
		Len:  []int{3, 2},
		LogP: [][]float64{{-1.1, -0.3, -2.0}, {-0.7, -1.9, 0}},
		Old:  [][]float64{{-1.0, -0.35, -2.3}, {-0.9, -1.5, 0}},
		Ref:  [][]float64{{-1.3, -0.2, -1.0}, {-0.6, -2.5, 0}},
		Adv:  []float64{0.8, -1.3},
	}
	for _, agg := range []LossAgg{SeqMeanTokenMean, TokenMean, DrGRPO} {
		o := ObjectiveOptions{EpsLow: 0.2, EpsHigh: 0.28, Beta: 0.3, Agg: agg, GlobalN: 2, GlobalTokens: 5, MaxLen: 6, World: 1}
		base, err := Objective(tr, o)
		if err != nil {
			t.Fatal(err)
		}
		for i := range tr.Len {
			for j := 0; j < tr.Len[i]; j++ {
				h := 1e-6
				tr.LogP[i][j] += h
				up, _ := Objective(tr, o)
				tr.LogP[i][j] -= 2 * h
				dn, _ := Objective(tr, o)
				tr.LogP[i][j] += h
				near(t, string(agg)+" finite difference", base.Coef[i][j], (up.Loss-dn.Loss)/(2*h), 1e-6)
			}
		}
	}
}

func TestObjectiveRejectsInconsistentBatch(t *testing.T) {
	_, err := Objective(Trajectories{Len: []int{3}, LogP: [][]float64{{0}}, Old: [][]float64{{0}}, Adv: []float64{1}},
		ObjectiveOptions{Agg: SeqMeanTokenMean, GlobalN: 1, World: 1})
	if err == nil {
		t.Fatal("no error for a trajectory longer than its log-probs")
	}
	if _, err := ParseLossAgg("mean"); err == nil {
		t.Fatal("ParseLossAgg accepted an unknown mode")
	}
}
