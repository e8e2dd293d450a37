package vit

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// Model is a vision transformer encoder of one of the families Config lists: the hf.Encoder (patch
// embedding, position embeddings and a class token for CLIP and DINOv2, L pre-norm encoder
// layers; DINOv2 scales each branch by its layer scale) and the family's pooling: CLIP's
// post_layernorm of the class token and visual_projection, DINOv2's final LayerNorm (its class
// token is the pooled output), SigLIP's post_layernorm and attention-pooling head.
type Model struct {
	cfg  Config
	pre  *ImageProcessor // nil when the folder has no preprocessor_config.json
	dev  gotch.Device
	kind raw.Kind   // the dtype of weights and activations
	w    *raw.Arena // owns the weights

	enc      hf.Encoder
	postNorm *hf.LayerNorm // CLIP's post_layernorm, DINOv2's layernorm, SigLIP's post_layernorm
	proj     raw.Tensor    // CLIP's visual_projection [Proj, D], nil when the folder has none
	head     *poolingHead  // SigLIP's attention-pooling head

	names map[string]bool // every tensor of the folder this model reads or accepts

	maxBatch int // most images per forward pass of the embedders (SetMaxBatch)
}

// poolingHead is SigLIP's multi-head attention pooling: a learned probe attends over the tokens
// (torch's MultiheadAttention, its packed in_proj split into q, k, v), then a residual MLP.
type poolingHead struct {
	probe      raw.Tensor // [1, 1, D]
	q, k, v, o hf.Linear
	ln         hf.LayerNorm
	fc1, fc2   hf.Linear
}

// Load reads a CLIP vision, DINOv2 or SigLIP vision model folder onto dev, with weights and
// activations in kind (raw.Float32 or raw.BFloat16; LayerNorms, softmax and the patch
// convolution run in float32). Every tensor config.json implies must be present with its
// shape, and the folder may hold no other, except the text tower of a full CLIP or SigLIP
// folder and the classifier of a DINOv2 classification folder, which are not read.
// preprocessor_config.json, when present, gives the preprocessing Embed applies.
func Load(dir string, dev gotch.Device, kind raw.Kind) (*Model, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	var pre *ImageProcessor
	if _, err := os.Stat(filepath.Join(dir, "preprocessor_config.json")); err == nil {
		if pre, err = LoadImageProcessor(dir); err != nil {
			return nil, err
		}
	}
	ws, err := hf.OpenWeights(dir)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	v := &Model{cfg: cfg, pre: pre, dev: dev, kind: kind, w: raw.New(dev.CInt()), names: map[string]bool{}, maxBatch: DefaultMaxBatch}
	v.enc = hf.Encoder{Kind: kind, Cfg: hf.EncoderConfig{D: cfg.D, H: cfg.H, Patch: cfg.Patch, Grid: cfg.Grid(), Eps: cfg.Eps, Act: cfg.Act}}
	if err := v.load(ws, dir); err != nil {
		v.Close()
		return nil, err
	}
	if err := v.checkProcessor(); err != nil {
		v.Close()
		return nil, fmt.Errorf("hf: %s: %w", filepath.Join(dir, "preprocessor_config.json"), err)
	}
	return v, nil
}

// LoadForImages loads dir as Load does for a model that will embed images (Embed, EmbedPlanar):
// a folder without preprocessor_config.json, whose resize, crop and normalisation embedding
// needs, is an error here rather than at the first image.
func LoadForImages(dir string, dev gotch.Device, kind raw.Kind) (*Model, error) {
	if _, err := os.Stat(filepath.Join(dir, "preprocessor_config.json")); err != nil {
		return nil, fmt.Errorf("hf: %s has no readable preprocessor_config.json (%v): an image embedder needs it for its resize, crop and normalisation; copy it from the model's Hugging Face repository", dir, err)
	}
	return Load(dir, dev, kind)
}

// checkProcessor checks that the preprocessor makes images of a side the model reads.
func (v *Model) checkProcessor() error {
	if v.pre == nil {
		return nil
	}
	h, w := v.pre.OutSize()
	switch {
	case h == 0:
		if v.cfg.ModelType != "dinov2" {
			return fmt.Errorf("a shortest-edge resize without a centre crop makes images of any shape; %s reads %dx%d", v.cfg.ModelType, v.cfg.ImageSize, v.cfg.ImageSize)
		}
	case h != w:
		return fmt.Errorf("images of %dx%d (height x width): only square inputs are implemented", h, w)
	case h%v.cfg.Patch != 0:
		return fmt.Errorf("images of side %d are not a whole number of %d-pixel patches", h, v.cfg.Patch)
	case v.cfg.ModelType != "dinov2" && h != v.cfg.ImageSize:
		return fmt.Errorf("images of side %d, but %s reads %d (position embeddings are interpolated only for dinov2)", h, v.cfg.ModelType, v.cfg.ImageSize)
	}
	return nil
}

// Config returns the model's config.
func (v *Model) Config() Config { return v.cfg }

// Processor returns the folder's image preprocessing, nil when it has no
// preprocessor_config.json.
func (v *Model) Processor() *ImageProcessor { return v.pre }

// Close frees the weights.
func (v *Model) Close() {
	if v.w != nil {
		_ = v.w.Free()
		v.w = nil
	}
}
