package policy

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Oracle: an exact reference computed by hand. Probabilities 0.5, 0.3, 0.15, 0.05 (logits their
// logs, in a shuffled id order): top-p 0.75 keeps the two most likely (0.5 + 0.3 reaches 0.75,
// 0.5 alone does not) and draws them as 0.625 and 0.375; top-p 0.4 keeps only the most likely.
// The log-probability returned is the full distribution's (log 0.3 for the second), not the
// nucleus' renormalised one: the one the update recomputes.
func TestPickerTopP(t *testing.T) {
	probs := map[int]float64{2: 0.5, 0: 0.3, 3: 0.15, 1: 0.05}
	logits := make([]float32, 4)
	for i, p := range probs {
		logits[i] = float32(math.Log(p))
	}
	var pick Picker
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 20000
	count := map[int]float64{}
	for range n {
		tok, lp := pick.Choose(logits, 1, 0, 0.75, false, rng, -1)
		count[tok]++
		if math.Abs(lp-math.Log(probs[tok])) > 1e-6 {
			t.Fatalf("token %d: log-probability %v, want the full softmax's %v", tok, lp, math.Log(probs[tok]))
		}
	}
	if count[3] != 0 || count[1] != 0 {
		t.Errorf("top-p 0.75 drew tokens outside the nucleus: %v", count)
	}
	for tok, want := range map[int]float64{2: 0.625, 0: 0.375} {
		se := math.Sqrt(want * (1 - want) / n)
		if f := count[tok] / n; math.Abs(f-want) > 5*se {
			t.Errorf("top-p 0.75 token %d: frequency %.4f, want %.4f", tok, f, want)
		}
	}
	for range 100 {
		if tok, _ := pick.Choose(logits, 1, 0, 0.4, false, rng, -1); tok != 2 {
			t.Fatalf("top-p 0.4 drew %d, want only the most likely token 2", tok)
		}
	}
}

// Oracle: the documented range (0 or 1: off; (0, 1): on; anything else an error).
func TestCheckTopP(t *testing.T) {
	for _, p := range []float64{0, 0.5, 1} {
		if err := CheckTopP(p); err != nil {
			t.Errorf("CheckTopP(%v): %v", p, err)
		}
	}
	for _, p := range []float64{-0.1, 1.5, math.NaN(), math.Inf(1)} {
		if err := CheckTopP(p); err == nil {
			t.Errorf("CheckTopP(%v) accepted it", p)
		}
	}
}
