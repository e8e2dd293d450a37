package hf

import (
	"fmt"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
)

// CaptionScores turns the logits [N, T, V] of the positions that predict the captions (of
// [prompt ; caption] rows with prompts of P positions and captions right-padded to T: positions
// ScoredSpan(P, T), row t predicting caption token t) into the Scores of the captions: log
// softmax(logits / temperature) of each token, 0 at padding, its entropy when asked. Callers run
// the head over those positions only (Batch.Logits): the prompt's logits would be read by no one.
// The tensors are kept out of the arena a for the caller.
func CaptionScores(a *raw.Arena, lg raw.Tensor, T int, tokens [][]int, temperature float64, withEntropy bool) (*policy.Scores, error) {
	N := len(tokens)
	target := make([]int64, N*T)
	mask := make([]float32, N*T)
	count := 0
	for r, c := range tokens {
		for t, id := range c {
			target[r*T+t] = int64(id)
			mask[r*T+t] = 1
			count++
		}
	}
	if sh := a.Shape(lg); sh != nil && (len(sh) != 3 || sh[0] != int64(N) || sh[1] != int64(T)) {
		return nil, fmt.Errorf("hf: log-probs: logits of shape %v for %d captions of %d tokens", sh, N, T)
	}
	logp := a.LogSoftmax(a.MulScalar(lg, 1/temperature), -1) // [N, T, V]
	msk := a.FromFloat32(mask, int64(N), int64(T))
	idx := a.Unsqueeze(a.FromInt64(target, int64(N), int64(T)), 2)
	lp := a.Mul(a.View(a.Gather(logp, 2, idx), int64(N), int64(T)), msk)
	sc := &policy.Scores{Tokens: count, T: T}
	if withEntropy {
		ent := a.Neg(a.SumDim(a.Mul(a.Exp(logp), logp), -1, false))
		sc.Entropy = a.Keep(a.Detach(a.Mul(ent, msk)))
	}
	sc.LogProbs = a.Keep(lp)
	sc.Mask = a.Keep(msk)
	if err := a.Err(); err != nil {
		sc.Drop()
		return nil, fmt.Errorf("hf: log-probs: %w", err)
	}
	return sc, nil
}
