package unified

import (
	"fmt"
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/hf"
)

// Decoder is the reward of Unified-GRPO for the unified model: the model itself redraws each
// image from its caption (the caption-to-image direction, with guidance, its code draws keyed by
// the caption's key), its VQ decoder renders the codes, and the world's embedders compare the
// drawing with the source. It follows the weights being trained: the reward of step t is that of
// the model at step t.
// (The main wraps it as the eval.SelfDecoder the trainer and the benchmark look for: models do
// not import eval.)
func (p *Policy) Decoder() Redraw { return Redraw{p} }

// Redraw is the unified model's reward module (an eval.Reward and eval.Reconstructor).
type Redraw struct{ p *Policy }

// Embedders names the world's embedders the reward compares under.
func (s Redraw) Embedders() []string { return s.p.reward.Embedders() }

// Rewards redraws each caption (row r belongs to source r/G, its draws keyed by keys[r]) and
// returns its mean similarity to the source over the embedders and each embedder's.
func (s Redraw) Rewards(src []images.Planar, G int, captions []string, keys []stream.Key) ([]float64, [][]float64, error) {
	if G < 1 || len(captions) != len(src)*G || len(keys) != len(captions) {
		return nil, nil, fmt.Errorf("unified reward: %d images x G=%d but %d captions and %d keys", len(src), G, len(captions), len(keys))
	}
	recs, err := s.Reconstruct(captions, keys)
	if err != nil {
		return nil, nil, err
	}
	r, parts := s.p.reward.Compare(src, G, recs)
	return r, parts, nil
}

// Reconstruct draws the image of each caption.
func (s Redraw) Reconstruct(captions []string, keys []stream.Key) ([]images.Planar, error) {
	prompts := make([][]int, len(captions))
	for i, c := range captions {
		ids, ok := Encode(c)
		if !ok {
			return nil, fmt.Errorf("unified reward: caption %q has a word outside the model's vocabulary", c)
		}
		prompts[i] = ids
	}
	var rngs []*rand.Rand
	temp := s.p.o.DrawTemperature
	if temp > 0 {
		rngs = make([]*rand.Rand, len(keys))
		for i, k := range keys {
			rngs[i] = k.RNG()
		}
	}
	return s.p.Draw(prompts, temp, rngs)
}

// Draw renders captions (world token ids, no BOS or EOS) into images with guidance: sampled at
// temperature with rngs[i] for row i, or greedy when temperature is 0.
func (p *Policy) Draw(captions [][]int, temperature float64, rngs []*rand.Rand) ([]images.Planar, error) {
	const chunk = 64
	var out []images.Planar
	for lo := 0; lo < len(captions); lo += chunk {
		hi := min(lo+chunk, len(captions))
		prompts := make([][]int, hi-lo)
		for i, c := range captions[lo:hi] {
			prompts[i] = DrawPrompt(c)
		}
		o := hf.ImageGenOptions{Scale: p.o.Guidance, Temperature: temperature, Greedy: temperature <= 0}
		var rs []*rand.Rand
		if rngs != nil {
			rs = rngs[lo:hi]
		}
		ims, err := p.J.Draw(prompts, o, rs)
		if err != nil {
			return nil, fmt.Errorf("unified: drawing: %w", err)
		}
		out = append(out, ims...)
	}
	return out, nil
}
