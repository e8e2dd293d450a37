package trainer

import (
	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
)

// Adapted is a Policy with low-rank adapters (LoRA) over frozen base weights: only the adapters
// train, and the KL reference is the same model with its adapters off, so a run loads no
// reference copy.
type Adapted interface {
	// HasAdapters reports whether the policy has adapters (a family that can have them may be
	// loaded without).
	HasAdapters() bool
	// SetAdapters turns the adapters on or off in every forward and returns the previous setting.
	SetAdapters(on bool) (prev bool)
}

// adaptersOff is the KL reference of an Adapted policy: the policy itself, scored with its
// adapters off and without a graph. Closing it closes nothing (the policy is closed as such).
type adaptersOff struct {
	Policy
	a Adapted
}

// referenceOf returns the KL reference the policy is its own reference for (adapters off), or
// nil when it needs a reference copy loaded.
func referenceOf(p Policy) Policy {
	if a, ok := p.(Adapted); ok && a.HasAdapters() {
		return adaptersOff{Policy: p, a: a}
	}
	return nil
}

// LogProbs scores the captions under the base model: adapters off, grad off, both restored.
func (r adaptersOff) LogProbs(imgs []images.Planar, G int, tokens [][]int, temperature float64, withEntropy bool) (*policy.Scores, error) {
	defer raw.SetGradEnabled(raw.SetGradEnabled(false))
	defer r.a.SetAdapters(r.a.SetAdapters(false))
	return r.Policy.LogProbs(imgs, G, tokens, temperature, withEntropy)
}

// TrainableParams is empty: nothing of the reference trains.
func (r adaptersOff) TrainableParams() []policy.Param { return nil }

// Close does nothing: the reference is the policy, closed as the policy.
func (adaptersOff) Close() {}
