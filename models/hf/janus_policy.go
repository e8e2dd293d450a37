package hf

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
)

// JanusPolicy is a Janus model as the trainer's policy and as its own decoder, in float32: it
// continues prompts that hold an image (captions, answers), scores such continuations by teacher
// forcing, learns both directions by teacher forcing (SequenceLoss), and draws images from
// prompts. The prompts are the caller's (a task's template in the model's token ids).
//
// Shapes below: B images, N rows, P = G*G placeholders (features) per image, T positions, V the
// text vocabulary, K the codebook, n = G*G codes per drawn image.
type JanusPolicy struct {
	Model  *Janus
	params []policy.Param
}

// OpenJanusPolicy loads a Janus folder on dev in float32 with the parts named training
// ("vision", "aligner", "lm", "vq", "gen"; none: frozen).
func OpenJanusPolicy(dir string, dev gotch.Device, parts ...string) (*JanusPolicy, error) {
	m, err := LoadJanus(dir, dev, raw.Float32)
	if err != nil {
		return nil, err
	}
	// The tokenizer's codes are the generation's targets: its latent grid must be the grid of
	// codes the model draws (and the images it draws the side of those it reads).
	if c := m.cfg; c.VQ.Grid(c.Vision.ImageSize) != c.Vision.Grid() {
		m.Close()
		return nil, fmt.Errorf("hf: janus policy %s: the VQ-VAE encodes %dx%d images to a %dx%d grid, but the model draws %dx%d codes",
			dir, c.Vision.ImageSize, c.Vision.ImageSize, c.VQ.Grid(c.Vision.ImageSize), c.VQ.Grid(c.Vision.ImageSize), c.Vision.Grid(), c.Vision.Grid())
	}
	p := &JanusPolicy{Model: m}
	if err := p.SetTrainable(parts...); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// SetTrainable makes the named parts train and lists their weights as the trainable parameters.
func (p *JanusPolicy) SetTrainable(parts ...string) error {
	for _, prm := range p.params {
		prm.Tensor.MustDrop()
	}
	p.params = nil
	m := p.Model
	if err := m.SetTrainable(parts...); err != nil {
		return err
	}
	on := map[string]bool{}
	for _, s := range parts {
		on[s] = true
	}
	w := m.lm.Arena()
	for _, prm := range m.Params() {
		if on[prm.Part] {
			shape := w.Shape(prm.Tensor)
			p.params = append(p.params, policy.Param{Name: prm.Name, Decay: len(shape) >= 2, Shape: shape, Tensor: w.Keep(prm.Tensor)})
		}
	}
	return w.Err()
}

// TrainableParams lists the weights that train, in Params' order.
func (p *JanusPolicy) TrainableParams() []policy.Param { return p.params }

// Device is where the weights live.
func (p *JanusPolicy) Device() gotch.Device { return p.Model.lm.Device() }

// Placeholders is P, the image placeholders (and features) of one understanding image.
func (p *JanusPolicy) Placeholders() int { return p.Model.cfg.Vision.Tokens }

// ImageSize is the side of the images the model reads and draws.
func (p *JanusPolicy) ImageSize() int { return p.Model.cfg.Vision.ImageSize }

// Save writes the model folder holding path (the trainer's model file, model.safetensors).
func (p *JanusPolicy) Save(path string, meta map[string]string) error {
	if filepath.Base(path) != "model.safetensors" {
		return fmt.Errorf("hf: janus save: %s: a Janus folder keeps its weights in model.safetensors", path)
	}
	return p.Model.Save(filepath.Dir(path), meta)
}

// Close frees the model.
func (p *JanusPolicy) Close() {
	for _, prm := range p.params {
		prm.Tensor.MustDrop()
	}
	p.params = nil
	p.Model.Close()
}

// Unconditional is the unconditional twin of a drawing prompt, as guided generation builds it:
// every token but BOS and <begin_of_image> becomes PAD. Train empty prompts in this form.
func (p *JanusPolicy) Unconditional(prompt []int) []int {
	c := p.Model.cfg
	out := make([]int, len(prompt))
	for i, id := range prompt {
		out[i] = id
		if id != c.BOS && id != c.BOI {
			out[i] = c.PAD
		}
	}
	return out
}

// features runs the vision tower and aligner on B images: [B*P, D], image b's features in rows
// b*P..b*P+P-1.
func (p *JanusPolicy) features(a *raw.Arena, imgs []images.Planar) (raw.Tensor, error) {
	px, err := p.pixels(a, imgs)
	if err != nil {
		return nil, err
	}
	return p.Model.ImageFeatures(a, px), nil
}

// rowFeatures picks, for rows that each show image of[r] (-1: none), the features of their
// placeholders in row order from feats [B*P, D].
func (p *JanusPolicy) rowFeatures(a *raw.Arena, feats raw.Tensor, of []int) raw.Tensor {
	P := p.Placeholders()
	var idx []int64
	for _, b := range of {
		for k := 0; k < P && b >= 0; k++ {
			idx = append(idx, int64(b*P+k))
		}
	}
	if len(idx) == 0 {
		return nil
	}
	return a.Embedding(feats, a.FromInt64(idx, int64(len(idx))))
}

// SampleText draws G continuations of prompt (which holds the P placeholders of one image) for
// every image; row b*G+g shows image b and samples with rngs[b*G+g] (nil when greedy).
func (p *JanusPolicy) SampleText(imgs []images.Planar, G int, prompt []int, maxLen int, stop []int, opt policy.SampleOptions, rngs []*rand.Rand) (*policy.Rollout, error) {
	of := make([]int, len(imgs)*G)
	prompts := make([][]int, len(of))
	for r := range of {
		of[r], prompts[r] = r/G, prompt
	}
	return p.continueRows(imgs, of, prompts, maxLen, stop, opt, rngs)
}

// Continue continues prompts[i], which shows imgs[i], at most maxLen tokens each.
func (p *JanusPolicy) Continue(imgs []images.Planar, prompts [][]int, maxLen int, stop []int, opt policy.SampleOptions, rngs []*rand.Rand) (*policy.Rollout, error) {
	of := make([]int, len(prompts))
	for i := range of {
		of[i] = i
	}
	return p.continueRows(imgs, of, prompts, maxLen, stop, opt, rngs)
}

// continueRows samples continuations of prompts, row r showing image of[r] (Janus.continueText).
func (p *JanusPolicy) continueRows(imgs []images.Planar, of []int, prompts [][]int, maxLen int, stop []int, opt policy.SampleOptions, rngs []*rand.Rand) (*policy.Rollout, error) {
	s, err := NewSampler(len(prompts), maxLen, opt, rngs, stop)
	if err != nil {
		return nil, err
	}
	return p.Model.continueText(prompts, func(a *raw.Arena) (raw.Tensor, error) {
		all, err := p.features(a, imgs)
		if err != nil {
			return nil, err
		}
		return p.rowFeatures(a, all, of), nil
	}, s)
}

// ScoreText scores continuations by teacher forcing: row b*G+g is prompt (showing image b) then
// tokens[b*G+g]; log softmax(logits / temperature) of each token [N, T], with an autograd graph
// through the weights that train.
func (p *JanusPolicy) ScoreText(imgs []images.Planar, G int, prompt []int, tokens [][]int, temperature float64, withEntropy bool) (*policy.Scores, error) {
	N := len(tokens)
	if N != len(imgs)*G || N == 0 {
		return nil, fmt.Errorf("hf: janus log-probs: %d rows for %d images x G=%d", N, len(imgs), G)
	}
	if !(temperature > 0) {
		return nil, fmt.Errorf("hf: janus log-probs: temperature %v must be positive", temperature)
	}
	m := p.Model
	P, T := len(prompt), 1
	for _, t := range tokens {
		T = max(T, len(t))
	}
	in := JanusBatch{IDs: make([][]int, N), Prompt: P}
	of := make([]int, N)
	for r, t := range tokens {
		ids := append(append(make([]int, 0, P+T), prompt...), t...)
		for len(ids) < P+T {
			ids = append(ids, max(m.cfg.PAD, 0)) // after the row's end: nothing real attends to it
		}
		in.IDs[r], of[r] = ids, r/G
	}
	a := raw.New(m.lm.Device().CInt())
	defer a.Free()
	all, err := p.features(a, imgs)
	if err != nil {
		return nil, fmt.Errorf("hf: janus log-probs: %w", err)
	}
	h, err := m.forward(a, in, p.rowFeatures(a, all, of), nil)
	if err != nil {
		return nil, fmt.Errorf("hf: janus log-probs: %w", err)
	}
	return CaptionScores(a, m.textLogits(a, h), P, T, tokens, temperature, withEntropy)
}
