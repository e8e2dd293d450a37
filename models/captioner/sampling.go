package captioner

import (
	"fmt"
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
)

// sampling is the state of one sample call's token loop over its N = B*G rows.
type sampling struct {
	m      *Model
	opt    SampleOptions
	rngs   []*rand.Rand // one per row; nil with Greedy
	G, N   int
	maxLen int
	temp   float64
	cached bool
	z      raw.Tensor // reference path: the image codes, one row per sample
	caches []kvCache  // cached path: each row's keys and values so far
	roll   *Rollout
	ids    []int64 // token fed at this step, per row
	hist   []int64 // reference path: every fed token, [N, t+1] row-major
	logits []float32
	hidden []float32
	done   []bool
	active int // rows not done
	pick   policy.Picker
}

// step runs step t: it feeds each row's token, chooses the unfinished rows' next tokens and
// keeps the hidden state of the rows that ended. The per-token arena is freed before it returns.
func (st *sampling) step(t int) error {
	s := st.m.tokArena
	hT, lT := st.forward(s, t)
	s.CopyToFloat32(lT, st.logits)
	if err := s.Err(); err != nil {
		_ = s.Free()
		return fmt.Errorf("policy: sample: step %d: %w", t, err)
	}
	if ended := st.choose(t); len(ended) > 0 {
		st.keepHidden(s, hT, ended)
	}
	if err := s.Free(); err != nil {
		return fmt.Errorf("policy: sample: step %d: %w", t, err)
	}
	return nil
}

// forward runs the model at step t in s and returns the hidden states [N, D] and logits [N, V]
// of the step's position: from the caches, or (reference path) over the whole sequence so far.
func (st *sampling) forward(s *raw.Arena, t int) (h, logits raw.Tensor) {
	if st.cached {
		return st.m.step(s, st.caches, st.ids, int64(t), int64(st.G))
	}
	N := st.N
	st.hist = appendColumn(st.hist, st.ids, t)
	return st.m.full(s, st.z, s.FromInt64(st.hist, int64(N), int64(t+1)), int64(N), int64(t+1))
}

// choose picks the next token of each unfinished row, in row order, and returns the rows that
// ended at step t.
func (st *sampling) choose(t int) []int {
	var ended []int
	for r := range st.N {
		if st.done[r] {
			continue
		}
		tok, lp := st.chooseRow(r, t)
		if st.record(r, t, tok, lp) {
			ended = append(ended, r)
		}
	}
	return ended
}

// chooseRow picks row r's token at step t from the step's logits with the row's own generator
// (none with Greedy), the end token banned before MinLen; it returns the token and its
// log-probability.
func (st *sampling) chooseRow(r, t int) (int, float64) {
	var rng *rand.Rand
	if !st.opt.Greedy {
		rng = st.rngs[r]
	}
	ban := -1
	if t+1 < st.opt.MinLen {
		ban = st.m.cfg.EOS
	}
	V := st.m.cfg.Vocab
	return st.pick.Choose(st.logits[r*V:(r+1)*V], st.temp, st.opt.TopK, st.opt.TopP, st.opt.Greedy, rng, ban)
}

// record appends token tok and its log-probability lp to row r, to be fed at the next step,
// and reports whether the row ended at step t: with the end token, or truncated at the last
// step.
func (st *sampling) record(r, t, tok int, lp float64) bool {
	roll := st.roll
	roll.Tokens[r] = append(roll.Tokens[r], tok)
	roll.LogProbs[r] = append(roll.LogProbs[r], float32(lp))
	st.ids[r] = int64(tok)
	if tok == st.m.cfg.EOS || t == st.maxLen-1 {
		st.done[r] = true
		roll.Truncated[r] = tok != st.m.cfg.EOS
		st.active--
		return true
	}
	return false
}

// keepHidden copies the step's hidden states hT out of s and keeps those of the ended rows.
func (st *sampling) keepHidden(s *raw.Arena, hT raw.Tensor, ended []int) {
	D := st.m.cfg.Dim
	s.CopyToFloat32(hT, st.hidden)
	for _, r := range ended {
		st.roll.Hidden[r] = append([]float32(nil), st.hidden[r*D:(r+1)*D]...)
	}
}
