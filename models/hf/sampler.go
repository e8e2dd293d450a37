package hf

import (
	"fmt"
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/models/policy"
)

// Sampler is the per-row state of sampling N captions, the same for every family: the options
// checked once, one token picked per unfinished row and step (policy.Picker), and a row ending
// at an end token (recorded) or at the length limit (truncated).
type Sampler struct {
	opt    policy.SampleOptions
	rngs   []*rand.Rand
	stop   []int
	temp   float64
	maxLen int
	roll   *policy.Rollout
	done   []bool
	pick   policy.Picker
}

// NewSampler checks the options for N rows of a policy whose captions have at most limit
// tokens; row r draws with rngs[r] (nil when opt.Greedy), and a row ends at a token of stop.
func NewSampler(N, limit int, opt policy.SampleOptions, rngs []*rand.Rand, stop []int) (*Sampler, error) {
	s := &Sampler{opt: opt, rngs: rngs, stop: stop, temp: opt.Temperature, maxLen: limit, done: make([]bool, N),
		roll: &policy.Rollout{Tokens: make([][]int, N), Lengths: make([]int, N), LogProbs: make([][]float32, N),
			Hidden: make([][]float32, N), Truncated: make([]bool, N)}}
	if opt.MaxLen > 0 {
		s.maxLen = min(opt.MaxLen, limit)
	}
	if opt.Greedy && s.temp <= 0 {
		s.temp = 1
	}
	switch {
	case N == 0:
		return nil, fmt.Errorf("hf: sample: no rows")
	case !opt.Greedy && len(rngs) != N:
		return nil, fmt.Errorf("hf: sample: %d random generators for %d rows", len(rngs), N)
	case !(s.temp > 0):
		return nil, fmt.Errorf("hf: sample: temperature %v must be positive", s.temp)
	}
	return s, nil
}

// Next picks step t's token of every unfinished row from the last position's logits [N*V] and
// hidden states [N*D], writes in feed[r] the token row r reads next (a finished row repeats its
// last one; its outputs are unused) and reports whether a row is still running.
func (s *Sampler) Next(t int, logits, hidden []float32, V, D int, feed []int) (active bool) {
	ban := -1
	if len(s.stop) > 0 && t+1 < s.opt.MinLen {
		ban = s.stop[0]
	}
	for r := range s.done {
		if s.done[r] {
			continue
		}
		var rng *rand.Rand
		if !s.opt.Greedy {
			rng = s.rngs[r]
		}
		tok, lp := s.pick.Choose(logits[r*V:(r+1)*V], s.temp, s.opt.TopK, s.opt.Greedy, rng, ban)
		s.roll.Tokens[r] = append(s.roll.Tokens[r], tok)
		s.roll.LogProbs[r] = append(s.roll.LogProbs[r], float32(lp))
		feed[r] = tok
		end := false
		for _, e := range s.stop {
			end = end || tok == e
		}
		if end || t == s.maxLen-1 {
			s.done[r] = true
			s.roll.Truncated[r] = !end
			s.roll.Hidden[r] = append([]float32(nil), hidden[r*D:(r+1)*D]...)
		} else {
			active = true
		}
	}
	return active
}

// MaxLen is the most tokens a row samples: the policy's limit, or opt.MaxLen when lower.
func (s *Sampler) MaxLen() int { return s.maxLen }

// Rollout returns the sampled captions.
func (s *Sampler) Rollout() *policy.Rollout {
	for r, t := range s.roll.Tokens {
		s.roll.Lengths[r] = len(t)
	}
	return s.roll
}
