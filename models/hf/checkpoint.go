package hf

import (
	"errors"
	"fmt"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
)

// Checkpoint is activation checkpointing of one pass through a decoder's layers (a forward given
// a Checkpoint). The layers run without autograd, and only each layer's input is kept; the last
// layer's output becomes a leaf that requires grad, so the final norm, the head and the log-probs
// record their graph from it. A backward through that graph fills the leaf's gradient (and the
// norm's and the head's); Finish then runs the layers again, last to first, each with autograd,
// and back-propagates the gradient of its output into its weights and its input, down to the
// decoder's input and through the graph that made it (the embeddings, image features).
//
// It costs one more forward of the layers and holds, besides one layer's activations at a time,
// one [B, T, D] input per layer instead of every layer's activations. The decoder has no dropout
// and nothing in a layer is random, so the recomputed activations are the forward's exactly; the
// rotary tables and the mask are inputs without grad, kept for the recompute.
//
// A Checkpoint belongs to one forward: make one per pass with NewCheckpoint, and call Free when
// done (after Finish, or instead of it). A nil *Checkpoint is a no-op.
type Checkpoint struct {
	m    *Decoder
	keep *raw.Arena // owns every tensor below
	// x0 is the decoder's input with its autograd graph; inputs[l] is layer l's input without
	// one (inputs[0] shares x0's data); out is the last layer's output, a leaf requiring grad.
	x0             raw.Tensor
	inputs         []raw.Tensor
	out            raw.Tensor
	cos, sin, mask raw.Tensor
	started        bool
	active         bool // the pass recorded a graph: Finish has a backward to complete
	finished       bool
}

// NewCheckpoint returns a Checkpoint for one forward of the decoder.
func (m *Decoder) NewCheckpoint() *Checkpoint {
	return &Checkpoint{m: m, keep: raw.New(m.dev.CInt())}
}

// Active reports whether the forward recorded a graph whose backward Finish must complete (grad
// mode on, and the decoder's weights or its input requiring grad). An inactive Checkpoint ran
// the layers as an ordinary forward without grad would.
func (c *Checkpoint) Active() bool { return c != nil && c.active }

// trunk runs the layers of the decoder on x under checkpointing, in arena a, and returns the
// hidden states as Trunk does. Without a graph to record it runs the ordinary trunk.
func (c *Checkpoint) trunk(a *raw.Arena, x, cos, sin, mask raw.Tensor) ([]raw.Tensor, error) {
	m := c.m
	if c.started {
		return nil, errors.New("hf: a Checkpoint serves one forward pass")
	}
	c.started = true
	c.active = raw.GradEnabled() && (raw.RequiresGrad(x) || m.trainable())
	if !c.active {
		return m.Trunk(a, x, cos, sin, mask, nil, nil)
	}
	k := c.keep
	c.x0, c.cos, c.sin, c.mask = k.Share(x), k.Share(cos), k.Share(sin), k.Share(mask)
	y := k.Detach(x)
	if err := k.Err(); err != nil {
		return nil, fmt.Errorf("hf: checkpointed forward: %w", err)
	}
	prev := raw.SetGradEnabled(false)
	for l := range m.layers {
		c.inputs = append(c.inputs, y)
		if y = c.layer(l, y); y == nil {
			break
		}
	}
	raw.SetGradEnabled(prev)
	if err := k.Err(); err != nil {
		return nil, fmt.Errorf("hf: checkpointed forward: %w", err)
	}
	if err := raw.SetRequiresGrad(y, true); err != nil {
		return nil, fmt.Errorf("hf: checkpointed forward: %w", err)
	}
	c.out = y
	hidden := append([]raw.Tensor(nil), c.inputs...)
	hidden = append(hidden, m.rmsNorm(a, y, m.norm))
	return hidden, a.Err()
}

// layer runs layer l on x in an arena of its own and returns its output, owned by c.keep (nil
// after an error, recorded in c.keep).
func (c *Checkpoint) layer(l int, x raw.Tensor) raw.Tensor {
	m := c.m
	la := raw.New(m.dev.CInt())
	y := m.layer(la, &m.layers[l], x, c.cos, c.sin, c.mask, nil, 0)
	if la.Err() == nil && la.Release(y) {
		c.keep.Adopt(y)
	} else {
		y = nil
	}
	if err := la.Free(); err != nil {
		c.keep.Fail(fmt.Errorf("layer %d: %w", l, err))
		return nil
	}
	return y
}

// Finish completes the backward: after a backward through the graph of the forward's output has
// filled the last layer's output gradient, it recomputes each layer with autograd, last first,
// back-propagates its output's gradient (accumulating into its weights' gradients and giving its
// input's), and ends with the backward of the decoder's input. The tensors are freed as it goes.
// It runs once; it does nothing for an inactive Checkpoint.
func (c *Checkpoint) Finish() error {
	if !c.Active() {
		return nil
	}
	if c.finished || c.keep == nil {
		return errors.New("hf: checkpointed backward: Finish was already called, or the Checkpoint freed")
	}
	c.finished = true
	defer c.Free()
	defer raw.SetGradEnabled(raw.SetGradEnabled(true))
	k := c.keep
	g := k.Grad(c.out)
	if err := k.Err(); err != nil {
		return fmt.Errorf("hf: checkpointed backward: %w", err)
	}
	if !raw.Defined(g) {
		return errors.New("hf: checkpointed backward: the last layer's output has no gradient (Finish runs after the backward of the log-probs)")
	}
	for l := len(c.inputs) - 1; l >= 0; l-- {
		var err error
		if g, err = c.backLayer(l, g); err != nil {
			return fmt.Errorf("hf: checkpointed backward of layer %d: %w", l, err)
		}
	}
	if g == nil { // the decoder's input does not require grad
		return nil
	}
	a := raw.New(c.m.dev.CInt())
	a.Backward(a.Sum(a.Mul(c.x0, g)))
	if err := a.Free(); err != nil {
		return fmt.Errorf("hf: checkpointed backward of the decoder's input: %w", err)
	}
	return nil
}

// backLayer recomputes layer l from its kept input with autograd and back-propagates g, the
// gradient of its output: the weights' gradients accumulate, and it returns the gradient of its
// input (owned by c.keep; nil for the first layer when the decoder's input does not require
// grad). It frees g and the layer's kept input.
func (c *Checkpoint) backLayer(l int, g raw.Tensor) (raw.Tensor, error) {
	m, k := c.m, c.keep
	a := raw.New(m.dev.CInt())
	x := a.Detach(c.inputs[l]) // a fresh leaf
	needX := l > 0 || raw.RequiresGrad(c.x0)
	if needX && a.Err() == nil {
		if err := raw.SetRequiresGrad(x, true); err != nil {
			a.Fail(err)
		}
	}
	y := m.layer(a, &m.layers[l], x, c.cos, c.sin, c.mask, nil, 0)
	// sum(y * g) back-propagates exactly g into y: its derivative in y is g.
	a.Backward(a.Sum(a.Mul(y, g)))
	var gx raw.Tensor
	if needX {
		gx = a.Grad(x)
		if a.Err() == nil && a.Release(gx) {
			k.Adopt(gx)
		}
	}
	if err := a.Free(); err != nil {
		return nil, err
	}
	for _, h := range []raw.Tensor{g, c.inputs[l]} {
		if k.Release(h) {
			raw.FreeHandle(h)
		}
	}
	c.inputs = c.inputs[:l]
	if needX && !raw.Defined(gx) {
		return nil, errors.New("no gradient reached the layer's input")
	}
	return gx, nil
}

// Free frees what the Checkpoint keeps. It may be called more than once.
func (c *Checkpoint) Free() {
	if c == nil || c.keep == nil {
		return
	}
	_ = c.keep.Free()
	c.keep, c.x0, c.inputs, c.out, c.cos, c.sin, c.mask = nil, nil, nil, nil, nil, nil, nil
}

// Attach hands the Checkpoint to the Scores of its forward and returns them: an active one
// becomes sc's Finish and Release; an inactive one (the Scores' backward is complete by itself),
// or one whose Scores failed (err), is freed.
func (c *Checkpoint) Attach(sc *policy.Scores, err error) (*policy.Scores, error) {
	if c == nil {
		return sc, err
	}
	if err != nil || !c.active {
		c.Free()
		return sc, err
	}
	sc.Finish, sc.Release = c.Finish, c.Free
	return sc, nil
}

// trainable reports whether any of the decoder's weights requires grad.
func (m *Decoder) trainable() bool {
	if m.loraTrains() {
		return true
	}
	for _, t := range m.names {
		if raw.RequiresGrad(t) {
			return true
		}
	}
	return false
}
