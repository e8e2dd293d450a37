package hf

import (
	"fmt"
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
)

// Sampler is the per-row state of sampling N captions, the same for every family: the options
// checked once, one token picked per row and step on the logits' device (DeviceDraw, with one
// uniform per unfinished row from the row's generator), and a row ending at an end token
// (recorded) or at the length limit (truncated). Per step only the N chosen ids and their
// log-probabilities reach the host; a row's final hidden state is read once, when it ends. Close
// frees its buffers.
type Sampler struct {
	opt    policy.SampleOptions
	rngs   []*rand.Rand
	stop   []int
	maxLen int
	roll   *policy.Rollout
	done   []bool
	draw   DeviceDraw
	u      []float64 // the step's uniforms
	out    []float64 // the step's [N, 2]: id, log-probability
}

// NewSampler checks the options for N rows of a policy whose captions have at most limit
// tokens; row r draws with rngs[r] (nil when opt.Greedy), and a row ends at a token of stop.
func NewSampler(N, limit int, opt policy.SampleOptions, rngs []*rand.Rand, stop []int) (*Sampler, error) {
	s := &Sampler{opt: opt, rngs: rngs, stop: stop, maxLen: limit, done: make([]bool, N),
		draw: DeviceDraw{Temp: opt.Temperature, TopK: opt.TopK, TopP: opt.TopP, Greedy: opt.Greedy},
		u:    make([]float64, N), out: make([]float64, 2*N),
		roll: &policy.Rollout{Tokens: make([][]int, N), Lengths: make([]int, N), LogProbs: make([][]float32, N),
			Hidden: make([][]float32, N), Truncated: make([]bool, N)}}
	if opt.MaxLen > 0 {
		s.maxLen = min(opt.MaxLen, limit)
	}
	if opt.Greedy && s.draw.Temp <= 0 {
		s.draw.Temp = 1
	}
	switch {
	case N == 0:
		return nil, fmt.Errorf("hf: sample: no rows")
	case !opt.Greedy && len(rngs) != N:
		return nil, fmt.Errorf("hf: sample: %d random generators for %d rows", len(rngs), N)
	case !(s.draw.Temp > 0):
		return nil, fmt.Errorf("hf: sample: temperature %v must be positive", s.draw.Temp)
	case policy.CheckTopP(opt.TopP) != nil:
		return nil, fmt.Errorf("hf: sample: %w", policy.CheckTopP(opt.TopP))
	}
	return s, nil
}

// Next picks step t's token of every unfinished row from the latest step of d (its logits
// [N, V] and hidden states [N, D], on the device), writes in feed[r] the token row r reads next
// (a finished row repeats its last one; its outputs are unused) and reports whether a row is
// still running.
func (s *Sampler) Next(t int, d *Stepper, feed []int) (active bool, err error) {
	ban := -1
	if len(s.stop) > 0 && t+1 < s.opt.MinLen {
		ban = s.stop[0]
	}
	for r := range s.done {
		s.u[r] = 0
		if !s.done[r] && !s.opt.Greedy {
			s.u[r] = s.rngs[r].Float64()
		}
	}
	a := raw.New(d.m.dev.CInt())
	defer a.Free()
	tok, lp := s.draw.Draw(a, d.logits, s.u, ban)
	a.CopyToFloat64(a.Cat(1, a.To(tok, raw.Float64), lp), s.out) // the step's one transfer
	if err := a.Err(); err != nil {
		return false, fmt.Errorf("hf: sample step %d: %w", t, err)
	}
	var ended []int64
	for r := range s.done {
		if s.done[r] {
			continue
		}
		tok := int(s.out[2*r])
		s.roll.Tokens[r] = append(s.roll.Tokens[r], tok)
		s.roll.LogProbs[r] = append(s.roll.LogProbs[r], float32(s.out[2*r+1]))
		feed[r] = tok
		end := false
		for _, e := range s.stop {
			end = end || tok == e
		}
		if end || t == s.maxLen-1 {
			s.done[r] = true
			s.roll.Truncated[r] = !end
			ended = append(ended, int64(r))
		} else {
			active = true
		}
	}
	return active, s.readHidden(a, d, ended)
}

// readHidden copies the final hidden states of the rows that ended at this step.
func (s *Sampler) readHidden(a *raw.Arena, d *Stepper, rows []int64) error {
	if len(rows) == 0 {
		return nil
	}
	sh := a.Shape(d.hidden)
	if len(sh) != 2 {
		return fmt.Errorf("hf: sample: hidden states of shape %v", sh)
	}
	D := int(sh[1])
	h := make([]float32, len(rows)*D)
	a.CopyToFloat32(a.IndexSelect(d.hidden, 0, a.FromInt64(rows, int64(len(rows)))), h)
	for i, r := range rows {
		s.roll.Hidden[r] = h[i*D : (i+1)*D : (i+1)*D]
	}
	return a.Err()
}

// Close frees the sampler's buffers on the device (DeviceDraw's).
func (s *Sampler) Close() { s.draw.Close() }

// MaxLen is the most tokens a row samples: the policy's limit, or opt.MaxLen when lower.
func (s *Sampler) MaxLen() int { return s.maxLen }

// Rollout returns the sampled captions.
func (s *Sampler) Rollout() *policy.Rollout {
	for r, t := range s.roll.Tokens {
		s.roll.Lengths[r] = len(t)
	}
	return s.roll
}
