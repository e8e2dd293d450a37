package janus

import (
	"fmt"
	"path/filepath"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/policy"
)

// Policy is a Janus model as the trainer's policy and as its own decoder, in float32: it
// continues prompts that hold an image (captions, answers), scores such continuations by teacher
// forcing, learns both directions by teacher forcing (SequenceLoss), and draws images from
// prompts. The prompts are the caller's (a task's template in the model's token ids).
//
// Shapes below: B images, N rows, P = G*G placeholders (features) per image, T positions, V the
// text vocabulary, K the codebook, n = G*G codes per drawn image.
type Policy struct {
	Model  *Model
	params []policy.Param
	ckpt   bool // ScoreText checkpoints the decoder's activations
}

// OpenPolicy loads a Janus folder on dev in float32 with the parts named training
// ("vision", "aligner", "lm", "vq", "gen"; none: frozen).
func OpenPolicy(dir string, dev gotch.Device, parts ...string) (*Policy, error) {
	m, err := Load(dir, dev, raw.Float32)
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
	p := &Policy{Model: m}
	if err := p.SetTrainable(parts...); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// SetTrainable makes the named parts train and lists their weights as the trainable parameters.
func (p *Policy) SetTrainable(parts ...string) error {
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

// SetCheckpointing turns activation checkpointing of ScoreText on or off: with it on, the
// decoder's layers keep only their inputs, and the Scores' Finish recomputes them in the
// backward (hf.Checkpoint); the graph of the image features (when the vision tower or the aligner
// trains) is kept and back-propagated last.
func (p *Policy) SetCheckpointing(on bool) { p.ckpt = on }

// TrainableParams lists the weights that train, in Params' order.
func (p *Policy) TrainableParams() []policy.Param { return p.params }

// Device is where the weights live.
func (p *Policy) Device() gotch.Device { return p.Model.lm.Device() }

// Placeholders is P, the image placeholders (and features) of one understanding image.
func (p *Policy) Placeholders() int { return p.Model.cfg.Vision.Tokens }

// ImageSize is the side of the images the model reads and draws.
func (p *Policy) ImageSize() int { return p.Model.cfg.Vision.ImageSize }

// Save writes the model folder holding path (the trainer's model file, model.safetensors).
func (p *Policy) Save(path string, meta map[string]string) error {
	if filepath.Base(path) != "model.safetensors" {
		return fmt.Errorf("hf: janus save: %s: a Janus folder keeps its weights in model.safetensors", path)
	}
	return p.Model.Save(filepath.Dir(path), meta)
}

// Close frees the model.
func (p *Policy) Close() {
	for _, prm := range p.params {
		prm.Tensor.MustDrop()
	}
	p.params = nil
	p.Model.Close()
}

// Unconditional is the unconditional twin of a drawing prompt, as guided generation builds it:
// every token but BOS and <begin_of_image> becomes PAD. Train empty prompts in this form.
func (p *Policy) Unconditional(prompt []int) []int {
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
