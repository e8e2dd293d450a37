package janus

import (
	"fmt"
	"strings"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// Param is one weight of a Janus model and the part it belongs to: "vision" (the
// understanding tower), "aligner" (its MLP), "lm" (the decoder and lm_head), "vq" (the VQ-VAE)
// or "gen" (generation embeddings, aligner and head).
type Param struct {
	Name, Part string
	Tensor     raw.Tensor
}

// partNames are the parts in Params' order.
func partNames() []string { return []string{"vision", "aligner", "lm", "vq", "gen"} }

// partOf names the part of a weight.
func partOf(name string) string {
	switch {
	case strings.HasPrefix(name, "model.vision_model."):
		return "vision"
	case strings.HasPrefix(name, "model.aligner."):
		return "aligner"
	case strings.HasPrefix(name, "model.vqmodel."):
		return "vq"
	case strings.HasPrefix(name, "model.generation_"):
		return "gen"
	}
	return "lm"
}

// Params lists every weight with its part, in a fixed order: the parts as partNames lists
// them, each in load order. A tied lm_head is listed once (as the token embeddings).
func (m *Model) Params() []Param {
	out := make([]Param, 0, len(m.order))
	for _, n := range m.order {
		out = append(out, Param{Name: n, Part: partOf(n), Tensor: m.names[n]})
	}
	return out
}

// SetTrainable makes the weights of the parts named ("vision", "aligner", "lm", "vq", "gen")
// require gradients and every other weight not.
func (m *Model) SetTrainable(parts ...string) error {
	on := map[string]bool{}
	for _, p := range parts {
		found := false
		for _, q := range partNames() {
			found = found || p == q
		}
		if !found {
			return fmt.Errorf("hf: janus has no part %q (%s)", p, strings.Join(partNames(), ", "))
		}
		on[p] = true
	}
	for _, p := range m.Params() {
		if err := raw.SetRequiresGrad(p.Tensor, on[p.Part]); err != nil {
			return fmt.Errorf("hf: %s: %w", p.Name, err)
		}
	}
	return nil
}
