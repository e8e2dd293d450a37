package policy

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Picker draws tokens from logits in Go, the same way for every policy family; it keeps scratch
// space between calls (use one per goroutine).
type Picker struct {
	w   []float64 // exp((logit - max) / temperature)
	idx []int     // token ids sorted by logit, for top-k and top-p
}

// Choose picks a token from one row of logits [V] and returns it with its log-probability
// under softmax(logits / temp). Greedy takes the first most likely token; otherwise the token
// is drawn with one rng.Float64(), among the topK most likely tokens when topK is in (0, V), and
// among those the nucleus of probability topP when topP is in (0, 1) (see nucleus).
// ban, when in [0, V), is a token that cannot be picked (the end token before SampleOptions.MinLen).
//
// The log-probability returned is the full tempered distribution's whatever topK and topP cut:
// the one the update's teacher-forced pass recomputes (Scores.LogProbs), as top-k has always
// done here and as TRL's and verl's GRPO ratio uses the full softmax; with mu = 1 the ratio is 1.
func (p *Picker) Choose(logits []float32, temp float64, topK int, topP float64, greedy bool, rng *rand.Rand, ban int) (int, float64) {
	V := len(logits)
	best := 0
	for i, l := range logits {
		if l > logits[best] {
			best = i
		}
	}
	mx := float64(logits[best]) / temp
	p.w = slices.Grow(p.w[:0], V)[:V]
	sum := 0.0
	for i, l := range logits {
		p.w[i] = math.Exp(float64(l)/temp - mx)
		sum += p.w[i]
	}
	logZ := mx + math.Log(sum)
	if ban >= 0 && ban < V {
		// The banned token cannot be drawn, but keeps its share of the normaliser: the
		// log-probabilities reported stay the model's (the ones teacher forcing computes).
		p.w[ban] = 0
		if best == ban {
			best = -1
			for i, l := range logits {
				if i != ban && (best < 0 || l > logits[best]) {
					best = i
				}
			}
		}
	}
	tok := best
	if !greedy {
		cand := p.nucleus(p.candidates(logits, topK, topP), topP)
		total := 0.0
		for _, i := range cand {
			total += p.w[i]
		}
		u := rng.Float64() * total
		tok = -1
		acc := 0.0
		for _, i := range cand {
			if p.w[i] == 0 {
				continue
			}
			acc += p.w[i]
			tok = i
			if u < acc {
				break
			}
		}
		if tok < 0 { // every candidate underflowed: cannot happen as the maximum has weight 1
			tok = best
		}
	}
	return tok, float64(logits[tok])/temp - logZ
}

// candidates returns the token ids a draw may pick, in a fixed order: all ids in order, or (with
// top-k or top-p on) the topK ids of highest logit, all of them when topK is off, most likely
// first, ties to the lower id.
func (p *Picker) candidates(logits []float32, topK int, topP float64) []int {
	V := len(logits)
	p.idx = slices.Grow(p.idx[:0], V)[:V]
	for i := range p.idx {
		p.idx[i] = i
	}
	topKOn := topK > 0 && topK < V
	if !topKOn && !NucleusOn(topP) {
		return p.idx
	}
	slices.SortStableFunc(p.idx, func(i, j int) int {
		switch {
		case logits[i] > logits[j]:
			return -1
		case logits[i] < logits[j]:
			return 1
		}
		return 0
	})
	if !topKOn {
		return p.idx
	}
	return p.idx[:topK]
}
