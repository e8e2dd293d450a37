package hf

import (
	"fmt"
	"math"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// DeviceDraw picks tokens from logits where they are (the CPU or a GPU), as tensor operations:
// the temperature, top-k, greedy choice, the banned token and the chosen token's log-probability.
// Only the chosen ids and their log-probabilities cross to the host, N of each per step, instead
// of N rows of V logits.
//
// It draws exactly as policy.Picker, the host oracle it is tested against: the token is found by
// inverse CDF with one uniform u per row drawn on the host from the row's own keyed stream, as
// the first candidate whose running weight exceeds u times the candidates' total, the weights
// exp(logit/temperature - max) in float64, the candidates all tokens in id order or the TopK most
// likely (ties to the lower id). What is guaranteed: the same uniforms give the same token and a
// log-probability within float64 rounding of the host's, on 1 or N ranks (a row's draw depends
// on its logits and its own stream only). On the CPU the running sums are taken in the host's
// order, so tokens are equal bit for bit; on a GPU the parallel scan adds in another order, and a
// uniform within about 1e-15 (relative) of a boundary between two tokens may pick the neighbour.
// Logits that tie exactly are resolved alike everywhere (the lower id first).
type DeviceDraw struct {
	Temp   float64 // positive
	TopK   int     // 0 (or >= V): every token is a candidate
	Greedy bool    // the most likely token (ties: the lowest id); no uniforms
}

// Draw picks one token per row of logits [N, V] (float32) with uniforms u [N] in [0, 1) (unused
// when Greedy); ban, when in [0, V), is a token that cannot be picked but keeps its share of the
// normaliser. It returns the ids [N, 1] (int64) and their log-probabilities under
// softmax(logits / Temp) [N, 1] (float64), on the logits' device, in arena a.
func (d DeviceDraw) Draw(a *raw.Arena, logits raw.Tensor, u []float64, ban int) (tok, logp raw.Tensor) {
	sh := a.Shape(logits)
	if sh == nil {
		return nil, nil
	}
	if len(sh) != 2 || (!d.Greedy && int64(len(u)) != sh[0]) {
		a.Fail(fmt.Errorf("hf: draw: logits of shape %v with %d uniforms", sh, len(u)))
		return nil, nil
	}
	N, V := sh[0], sh[1]
	z := a.DivScalar(a.To(logits, raw.Float64), d.Temp) // [N, V]
	lse := a.Logsumexp(z, 1, true)                      // [N, 1]
	banned := func(ids raw.Tensor) raw.Tensor { return a.EqScalar(ids, int64(ban)) }
	hasBan := ban >= 0 && int64(ban) < V
	switch {
	case d.Greedy:
		zd := z
		if hasBan {
			zd = a.MaskedFill(z, banned(a.Arange(V)), math.Inf(-1))
		}
		tok = a.Unsqueeze(a.Argmax(zd, 1), 1)
	case d.TopK > 0 && int64(d.TopK) < V:
		vals, idx := a.SortDesc(logits)
		K := int64(d.TopK)
		idx = a.Narrow(idx, 1, 0, K)
		zs := a.DivScalar(a.To(a.Narrow(vals, 1, 0, K), raw.Float64), d.Temp)
		mx := a.Narrow(zs, 1, 0, 1) // the largest logit over all tokens, banned or not
		if hasBan {
			zs = a.MaskedFill(zs, banned(idx), math.Inf(-1))
		}
		at := a.ClampMax(d.search(a, a.Exp(a.Sub(zs, mx)), u, N), K-1)
		tok = a.Gather(idx, 1, at)
	default:
		mx := a.AmaxLast(z)
		zd := z
		if hasBan {
			zd = a.MaskedFill(z, banned(a.Arange(V)), math.Inf(-1))
		}
		tok = a.ClampMax(d.search(a, a.Exp(a.Sub(zd, mx)), u, N), V-1)
	}
	return tok, a.Sub(a.Gather(z, 1, tok), lse)
}

// search is the inverse CDF: the position [N, 1] of the first candidate whose running weight
// exceeds u times the row's total weight (w [N, K] in candidate order, float64).
func (d DeviceDraw) search(a *raw.Arena, w raw.Tensor, u []float64, N int64) raw.Tensor {
	cdf := a.Cumsum(w, 1, raw.Float64)
	sh := a.Shape(cdf)
	if sh == nil {
		return nil
	}
	total := a.Narrow(cdf, 1, sh[1]-1, 1)
	return a.SearchRight(cdf, a.Mul(a.FromFloat64(u, N, 1), total))
}
