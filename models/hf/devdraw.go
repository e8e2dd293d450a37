package hf

import (
	"fmt"
	"math"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
)

// DeviceDraw picks tokens from logits where they are (the CPU or a GPU), as tensor operations:
// the temperature, top-k, top-p, greedy choice, the banned token and the chosen token's
// log-probability.
// Only the chosen ids and their log-probabilities cross to the host, N of each per step, instead
// of N rows of V logits. It keeps an [N, V] float64 buffer (and, for greedy with a banned token, a
// float32 one) between steps, written in place: a step allocates no full-size tensor. Close
// frees them.
//
// It draws as policy.Picker, the host oracle it is tested against: the token is found by inverse
// CDF with one uniform u per row drawn on the host from the row's own keyed stream, as the first
// candidate whose running weight exceeds u times the candidates' total, the weights
// exp(logit/temperature - max) in float64, the candidates all tokens in id order or (top-k or
// top-p on) the TopK most likely, all tokens without top-k, most likely first; top-p then keeps
// the shortest prefix whose running weight reaches TopP times the candidates' total (see search).
// Top-p without top-k sorts whole rows: unlike the other draws it allocates [N, V] temporaries
// each step (freed with the step's arena). What is guaranteed: the same uniforms give the same
// token and a log-probability within float64 rounding of the host's, on 1 or N ranks (a row's
// draw depends on its logits and its own stream only). On the CPU the running sums are taken in the host's order; libtorch's exp may
// differ from Go's in the last bit, and on a GPU the parallel scan adds in another order, so a
// uniform within about 1e-15 (relative) of a boundary between two tokens may pick the neighbour.
// Exactly tied logits: greedy and the full-vocabulary draw resolve them as the host (the lower id
// first), and so does top-p alone (a stable sort); top-k may keep another of logits tied at the
// k-th place (torch.topk's order). The log-probability is the full tempered distribution's, as
// the host's (policy.Picker.Choose says why).
type DeviceDraw struct {
	Temp   float64 // positive
	TopK   int     // 0 (or >= V): every token is a candidate
	TopP   float64 // 0 or 1: off; in (0, 1): the nucleus of that probability (policy.CheckTopP)
	Greedy bool    // the most likely token (ties: the lowest id); no uniforms

	keep *raw.Arena // owns w and f
	w, f raw.Tensor // [N, V] scratch: float64 weights, float32 masked logits
}

// Draw picks one token per row of logits [N, V] (float32) with uniforms u [N] in [0, 1) (unused
// when Greedy); ban, when in [0, V), is a token that cannot be picked but keeps its share of the
// normaliser. It returns the ids [N, 1] (int64) and their log-probabilities under
// softmax(logits / Temp) [N, 1] (float64), on the logits' device, in arena a.
func (d *DeviceDraw) Draw(a *raw.Arena, logits raw.Tensor, u []float64, ban int) (tok, logp raw.Tensor) {
	sh := a.Shape(logits)
	if sh == nil {
		return nil, nil
	}
	if len(sh) != 2 || (!d.Greedy && int64(len(u)) != sh[0]) {
		a.Fail(fmt.Errorf("hf: draw: logits of shape %v with %d uniforms", sh, len(u)))
		return nil, nil
	}
	N, V := sh[0], sh[1]
	if err := d.scratch(a.Device(), N, V); err != nil {
		a.Fail(err)
		return nil, nil
	}
	hasBan := ban >= 0 && int64(ban) < V
	// w = exp(logits/T - max/T) in float64, in place; its row sums give the normaliser.
	mx := a.DivScalar(a.To(a.AmaxLast(logits), raw.Float64), d.Temp) // [N, 1]
	a.Copy(d.w, logits)
	a.DivScalar_(d.w, d.Temp)
	a.Sub_(d.w, mx)
	a.Exp_(d.w)
	logZ := a.Add(mx, a.Log(a.SumDim(d.w, 1, true))) // [N, 1]
	switch {
	case d.Greedy && hasBan:
		a.Copy(d.f, logits)
		a.Fill_(a.Narrow(d.f, 1, int64(ban), 1), math.Inf(-1))
		tok = a.Unsqueeze(a.Argmax(d.f, 1), 1)
	case d.Greedy:
		tok = a.Unsqueeze(a.Argmax(logits, 1), 1)
	case (d.TopK > 0 && int64(d.TopK) < V) || policy.NucleusOn(d.TopP):
		vals, idx := d.candidates(a, logits, V)
		wk := a.Exp(a.Sub(a.DivScalar(a.To(vals, raw.Float64), d.Temp), mx))
		if hasBan {
			wk = a.MaskedFill(wk, a.EqScalar(idx, int64(ban)), 0)
		}
		tok = a.Gather(idx, 1, search(a, wk, u, N, d.TopP))
	default:
		if hasBan { // not drawable; its weight stays in the normaliser
			a.Zero_(a.Narrow(d.w, 1, int64(ban), 1))
		}
		tok = search(a, d.w, u, N, 0)
	}
	lt := a.DivScalar(a.To(a.Gather(logits, 1, tok), raw.Float64), d.Temp)
	return tok, a.Sub(lt, logZ)
}

// candidates are the TopK most likely tokens of each row (every token when top-k is off), with
// their logits, most likely first, equal logits by id.
func (d *DeviceDraw) candidates(a *raw.Arena, logits raw.Tensor, V int64) (vals, idx raw.Tensor) {
	if d.TopK <= 0 || int64(d.TopK) >= V {
		return a.SortDesc(logits) // stable: equal logits by id
	}
	vals, idx = a.TopK(logits, int64(d.TopK))
	// torch.topk leaves ties in no set order: sort the k by id, then stably by value.
	byID, perm := a.SortAsc(idx)
	vals = a.Gather(vals, 1, perm)
	vals, perm = a.SortDesc(vals)
	return vals, a.Gather(byID, 1, perm)
}

// search is the inverse CDF: the position [N, 1] of the first candidate whose running weight
// exceeds u times the total weight of the row's candidates (w [N, K] in candidate order, float64,
// summed in place). With topP in (0, 1) the candidates are the nucleus: the first
// ones up to the first position whose running weight reaches topP times the row's total (the
// cut as policy.Picker's nucleus); as u < 1, the draw then lands at or before that position.
func search(a *raw.Arena, w raw.Tensor, u []float64, N int64, topP float64) raw.Tensor {
	a.Cumsum_(w, 1)
	cdf := w
	sh := a.Shape(cdf)
	if sh == nil {
		return nil
	}
	K := sh[1]
	total := a.Narrow(cdf, 1, K-1, 1)
	if policy.NucleusOn(topP) {
		last := a.ClampMax(a.SearchLeft(cdf, a.MulScalar(total, topP)), K-1) // the nucleus' last
		total = a.Gather(cdf, 1, last)
	}
	return a.ClampMax(a.SearchRight(cdf, a.Mul(a.FromFloat64(u, N, 1), total)), K-1)
}

// scratch makes the buffers for N rows of V logits on device dev (kept while the shape holds).
func (d *DeviceDraw) scratch(dev int32, N, V int64) error {
	if d.keep != nil {
		if sh := d.keep.Shape(d.w); len(sh) == 2 && sh[0] == N && sh[1] == V {
			return nil
		}
		d.Close()
	}
	d.keep = raw.New(dev)
	d.w = d.keep.Empty(raw.Float64, N, V)
	if d.Greedy {
		d.f = d.keep.Empty(raw.Float32, N, V)
	}
	if err := d.keep.Err(); err != nil {
		return fmt.Errorf("hf: draw: buffers for %d x %d logits: %w", N, V, err)
	}
	return nil
}

// Close frees the buffers (the DeviceDraw can draw again: it makes new ones).
func (d *DeviceDraw) Close() {
	if d.keep != nil {
		_ = d.keep.Free()
		d.keep, d.w, d.f = nil, nil, nil
	}
}
