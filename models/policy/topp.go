package policy

import "fmt"

// Top-p (nucleus) sampling: the draw keeps the smallest set of most likely tokens whose
// probability reaches p, after the temperature and top-k, and renormalises over it.

// CheckTopP checks a top-p value: 0 and 1 turn it off, a value in (0, 1) keeps the nucleus of that
// probability; anything else (negative, above 1, NaN) is refused.
func CheckTopP(p float64) error {
	if !(p >= 0 && p <= 1) {
		return fmt.Errorf("top-p %v: must be in (0, 1] (the probability the kept tokens reach; 0 or 1: off)", p)
	}
	return nil
}

// NucleusOn reports whether top-p p cuts anything: p in (0, 1).
func NucleusOn(p float64) bool { return p > 0 && p < 1 }

// nucleus returns the shortest prefix of cand (token ids, most likely first) whose weights p.w
// sum to at least topP times the weight of all of cand; cand itself when top-p is off. The sums
// run in float64 in cand's order, as DeviceDraw's cumulative sum (models/hf) on the CPU, so
// both cut at the same token; a banned token (weight 0) adds nothing, like HF's logits processors
// that mask it before the top-p warper.
func (p *Picker) nucleus(cand []int, topP float64) []int {
	if !NucleusOn(topP) {
		return cand
	}
	total := 0.0
	for _, i := range cand {
		total += p.w[i]
	}
	reach := topP * total
	acc := 0.0
	for j, i := range cand {
		acc += p.w[i]
		if acc >= reach {
			return cand[:j+1]
		}
	}
	return cand
}
