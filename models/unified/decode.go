package unified

import (
	"fmt"
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/hf/janus"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/reward"
)

var (
	_ reward.SelfDecoder   = (*Policy)(nil)
	_ reward.Reconstructor = Redraw{}
)

// Decoder is the reward of Unified-GRPO for the unified model: the model itself redraws each
// image from its caption (the caption-to-image direction, with guidance, its code draws keyed by
// the caption's key), its VQ decoder renders the codes, and the world's embedders compare the
// drawing with the source. It follows the weights being trained: the reward of step t is that of
// the model at step t.
// It makes the policy a reward.SelfDecoder, which the trainer and the benchmark look for.
func (p *Policy) Decoder() reward.Reward { return Redraw{p} }

// Redraw is the unified model's reward module (a reward.Reward and reward.Reconstructor).
type Redraw struct{ p *Policy }

// Embedders names the world's embedders the reward compares under.
func (s Redraw) Embedders() []string { return s.p.reward.Embedders() }

// Rewards redraws each caption (row r belongs to source r/G, its draws keyed by keys[r]) and
// returns its mean similarity to the source over the embedders and each embedder's.
func (s Redraw) Rewards(src []images.Planar, G int, captions []string, keys []stream.Key) ([]float64, [][]float64, error) {
	r, parts, _, err := s.p.DrawRewards(src, G, captions, keys)
	return r, parts, err
}

// Reconstruct draws the image of each caption.
func (s Redraw) Reconstruct(captions []string, keys []stream.Key) ([]images.Planar, error) {
	codes, err := s.p.drawCodes(captions, keys)
	if err != nil {
		return nil, err
	}
	return s.p.J.DecodeImages(codes)
}

// DrawRewards is the reward of Unified-GRPO (Redraw.Rewards) that also returns the codes drawn
// for each caption: with the joint objective they are the drawing direction's trajectory.
func (p *Policy) DrawRewards(src []images.Planar, G int, captions []string, keys []stream.Key) ([]float64, [][]float64, [][]int, error) {
	if G < 1 || len(captions) != len(src)*G || len(keys) != len(captions) {
		return nil, nil, nil, fmt.Errorf("unified reward: %d images x G=%d but %d captions and %d keys", len(src), G, len(captions), len(keys))
	}
	codes, err := p.drawCodes(captions, keys)
	if err != nil {
		return nil, nil, nil, err
	}
	recs, err := p.J.DecodeImages(codes)
	if err != nil {
		return nil, nil, nil, err
	}
	r, parts := p.reward.Compare(src, G, recs)
	return r, parts, codes, nil
}

// CodeLogProbs scores the codes drawn for captions by teacher forcing, under the drawings'
// guidance and temperature (1 when they are greedy): [N, n] log-probs with an autograd graph.
func (p *Policy) CodeLogProbs(captions []string, codes [][]int, withEntropy bool) (*policy.Scores, error) {
	prompts, err := drawPrompts(captions)
	if err != nil {
		return nil, err
	}
	return p.J.ScoreCodes(prompts, codes, p.drawOptions(p.o.DrawTemperature), withEntropy)
}

// drawCodes draws the codes of each caption, sampled with keys[i]'s stream at the drawing
// temperature, or greedy when it is 0.
func (p *Policy) drawCodes(captions []string, keys []stream.Key) ([][]int, error) {
	prompts, err := drawPrompts(captions)
	if err != nil {
		return nil, err
	}
	var rngs []*rand.Rand
	temp := p.o.DrawTemperature
	if temp > 0 {
		rngs = make([]*rand.Rand, len(keys))
		for i, k := range keys {
			rngs[i] = k.RNG()
		}
	}
	return p.codes(prompts, temp, rngs)
}

// drawPrompts are the drawing prompts of captions in words.
func drawPrompts(captions []string) ([][]int, error) {
	prompts := make([][]int, len(captions))
	for i, c := range captions {
		ids, ok := Encode(c)
		if !ok {
			return nil, fmt.Errorf("unified reward: caption %q has a word outside the model's vocabulary", c)
		}
		prompts[i] = DrawPrompt(ids)
	}
	return prompts, nil
}

// drawOptions are the guidance settings of drawings at a temperature (0: greedy).
func (p *Policy) drawOptions(temperature float64) janus.ImageGenOptions {
	return janus.ImageGenOptions{Scale: p.o.Guidance, Temperature: temperature, Greedy: temperature <= 0}
}

// Draw renders captions (world token ids, no BOS or EOS) into images with guidance: sampled at
// temperature with rngs[i] for row i, or greedy when temperature is 0.
func (p *Policy) Draw(captions [][]int, temperature float64, rngs []*rand.Rand) ([]images.Planar, error) {
	prompts := make([][]int, len(captions))
	for i, c := range captions {
		prompts[i] = DrawPrompt(c)
	}
	codes, err := p.codes(prompts, temperature, rngs)
	if err != nil {
		return nil, err
	}
	return p.J.DecodeImages(codes)
}

// codes draws the codes of drawing prompts in chunks of 64 rows (rngs[i] for row i, nil when
// greedy).
func (p *Policy) codes(prompts [][]int, temperature float64, rngs []*rand.Rand) ([][]int, error) {
	const chunk = 64
	var out [][]int
	for lo := 0; lo < len(prompts); lo += chunk {
		hi := min(lo+chunk, len(prompts))
		var rs []*rand.Rand
		if rngs != nil {
			rs = rngs[lo:hi]
		}
		codes, _, err := p.J.DrawCodes(prompts[lo:hi], p.drawOptions(temperature), rs)
		if err != nil {
			return nil, fmt.Errorf("unified: drawing: %w", err)
		}
		out = append(out, codes...)
	}
	return out, nil
}
