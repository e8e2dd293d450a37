package captioner

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// Group is a parameter group that can be frozen on its own.
type Group int

// The parameter groups.
const (
	// Vision is the convolutional stem and the vision transformer.
	Vision Group = iota
	// Projector maps image tokens into the language model's width.
	Projector
	// LM is the language model: embeddings, causal blocks, final norm and head.
	LM
	numGroups
)

// Groups returns every group, in order.
func Groups() []Group { return []Group{Vision, Projector, LM} }

// String returns the group's name as used in parameter names.
func (g Group) String() string {
	switch g {
	case Vision:
		return "vision"
	case Projector:
		return "projector"
	case LM:
		return "lm"
	}
	return fmt.Sprintf("group(%d)", int(g))
}

// param is a Param plus its group and raw handle.
type param struct {
	Param
	Group Group
	h     raw.Tensor
}

// Params returns the parameters of the given groups (every group when none is given), in a
// fixed order.
func (m *Model) Params(groups ...Group) []Param {
	if len(groups) == 0 {
		groups = Groups()
	}
	var out []Param
	for _, p := range m.params {
		for _, g := range groups {
			if p.Group == g {
				out = append(out, p.Param)
				break
			}
		}
	}
	return out
}

// TrainableParams returns the parameters of the groups that are currently trainable.
func (m *Model) TrainableParams() []Param {
	var groups []Group
	for _, g := range Groups() {
		if m.trainable[g] {
			groups = append(groups, g)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	return m.Params(groups...)
}

// NumParams returns the number of scalar parameters in the given groups (all when none given).
func (m *Model) NumParams(groups ...Group) int {
	n := 0
	for _, p := range m.Params(groups...) {
		k := 1
		for _, s := range p.Shape {
			k *= int(s)
		}
		n += k
	}
	return n
}

// SetTrainable sets which groups autograd tracks: a frozen group's parameters stop requiring
// grad (and the vision encoder runs without recording a graph when it is frozen). New models
// have every group trainable.
func (m *Model) SetTrainable(vision, projector, lm bool) error {
	want := [numGroups]bool{Vision: vision, Projector: projector, LM: lm}
	for _, p := range m.params {
		if err := raw.SetRequiresGrad(p.h, want[p.Group]); err != nil {
			return fmt.Errorf("policy: set requires-grad of %s: %w", p.Name, err)
		}
	}
	m.trainable = want
	m.vision.reset()
	return nil
}

// Trainable reports whether group g is trainable.
func (m *Model) Trainable(g Group) bool { return m.trainable[g] }

// initKind says how a parameter starts.
type initKind int

const (
	initNormal initKind = iota // N(0, std)
	initZeros
	initOnes
)

// builder creates a model's parameters with values drawn from a seeded Go generator, so that
// a seed gives the same initial model on every machine.
type builder struct {
	m   *Model
	rng *rand.Rand // nil: all normal parameters start at zero (weights to be loaded)
	err error
}

// add creates parameter name of the given group and shape.
func (b *builder) add(g Group, name string, kind initKind, std float64, shape ...int64) raw.Tensor {
	if b.err != nil {
		return nil
	}
	n := 1
	for _, s := range shape {
		n *= int(s)
	}
	vals := make([]float32, n)
	switch kind {
	case initNormal:
		if b.rng != nil {
			for i := range vals {
				vals[i] = float32(b.rng.NormFloat64() * std)
			}
		}
	case initOnes:
		for i := range vals {
			vals[i] = 1
		}
	}
	a := raw.New(b.m.dev.CInt())
	h := a.FromFloat32(vals, shape...)
	if h != nil && !a.Release(h) {
		h = nil
	}
	if err := a.Free(); err != nil {
		b.err = fmt.Errorf("policy: create %s: %w", name, err)
		return nil
	}
	if err := raw.SetRequiresGrad(h, true); err != nil {
		raw.FreeHandle(h)
		b.err = fmt.Errorf("policy: create %s: %w", name, err)
		return nil
	}
	t := ts.New(h)
	// Weight decay on matrices, not on norms, biases or the learned position tables.
	decay := len(shape) >= 2 && !strings.Contains(name, "pos")
	p := &param{Param: Param{Name: name, Decay: decay, Shape: shape, Tensor: t}, Group: g, h: h}
	b.m.params = append(b.m.params, p)
	return h
}

// linear creates a linear layer's weight [out, in] (N(0, std)) and bias [out] (zeros).
func (b *builder) linear(g Group, name string, in, out int, std float64) linearW {
	return linearW{
		w: b.add(g, name+".weight", initNormal, std, int64(out), int64(in)),
		b: b.add(g, name+".bias", initZeros, 0, int64(out)),
	}
}

// conv creates a 3x3 convolution's weight [out, in, 3, 3] (N(0, gain/sqrt(fan in))) and bias.
func (b *builder) conv(g Group, name string, in, out int, gain float64) linearW {
	std := gain / math.Sqrt(float64(in*9))
	return linearW{
		w: b.add(g, name+".weight", initNormal, std, int64(out), int64(in), 3, 3),
		b: b.add(g, name+".bias", initZeros, 0, int64(out)),
	}
}

// norm creates a LayerNorm's weight (ones) and bias (zeros).
func (b *builder) norm(g Group, name string, dim int) normW {
	return normW{
		w: b.add(g, name+".weight", initOnes, 0, int64(dim)),
		b: b.add(g, name+".bias", initZeros, 0, int64(dim)),
	}
}

// block creates a pre-norm transformer block of width dim. Output projections of the residual
// branches start smaller (std 0.02/sqrt(2*layers)) so the residual stream starts near identity.
func (b *builder) block(g Group, name string, dim, mlpRatio, layers int) blockW {
	outStd := 0.02 / math.Sqrt(2*float64(layers))
	return blockW{
		ln1: b.norm(g, name+".ln1", dim),
		qkv: b.linear(g, name+".attn.qkv", dim, 3*dim, 0.02),
		out: b.linear(g, name+".attn.out", dim, dim, outStd),
		ln2: b.norm(g, name+".ln2", dim),
		fc1: b.linear(g, name+".mlp.fc1", dim, mlpRatio*dim, 0.02),
		fc2: b.linear(g, name+".mlp.fc2", mlpRatio*dim, dim, outStd),
	}
}
