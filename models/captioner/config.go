package captioner

import (
	"errors"
	"fmt"

	"github.com/unigrpo/unigrpo/world"
)

// Config holds the sizes of a Model. Checkpoints store it; a checkpoint loads only into a model
// of the same Config.
type Config struct {
	// ImageSize is the side S of the square input images in pixels (a multiple of 4).
	ImageSize int `json:"image_size"`
	// Channels is the number of image channels C.
	Channels int `json:"channels"`
	// Stem1 and Stem2 are the channel counts of the first two convolutions of the vision stem
	// (3x3, stride 1 then stride 2); a third 3x3 stride-2 convolution maps to VisionDim.
	Stem1 int `json:"stem1"`
	Stem2 int `json:"stem2"`
	// VisionDim is the width Dv of the vision transformer.
	VisionDim int `json:"vision_dim"`
	// VisionLayers is the number of bidirectional transformer blocks of the vision encoder.
	VisionLayers int `json:"vision_layers"`
	// VisionHeads is the number of attention heads of the vision encoder (divides VisionDim).
	VisionHeads int `json:"vision_heads"`
	// ProjectorHidden is the hidden width of a two-layer GELU MLP projector from VisionDim to
	// Dim; 0 makes the projector a single linear layer.
	ProjectorHidden int `json:"projector_hidden"`
	// Dim is the width D of the language model.
	Dim int `json:"dim"`
	// Layers is the number of causal transformer blocks of the language model.
	Layers int `json:"layers"`
	// Heads is the number of attention heads H of the language model (divides Dim).
	Heads int `json:"heads"`
	// MLPRatio is the hidden width of every transformer MLP as a multiple of its block width.
	MLPRatio int `json:"mlp_ratio"`
	// MaxLen is the most caption tokens the model reads or emits, EOS included.
	MaxLen int `json:"max_len"`
	// Vocab is the vocabulary size V.
	Vocab int `json:"vocab"`
	// PAD, BOS and EOS are token ids in [0, Vocab): padding, begin and end of a caption.
	// The model never predicts PAD or BOS.
	PAD int `json:"pad"`
	BOS int `json:"bos"`
	EOS int `json:"eos"`
	// LayerNormEps is the epsilon of every LayerNorm.
	LayerNormEps float64 `json:"layer_norm_eps"`
}

// DefaultConfig returns the default sizes: 32x32 RGB images, 64 image tokens, width 128,
// 2 vision and 3 language blocks of 4 heads, captions of up to 40 tokens, and the world's
// caption vocabulary (about 1.2M parameters).
func DefaultConfig() Config {
	return Config{
		ImageSize:    32,
		Channels:     3,
		Stem1:        32,
		Stem2:        64,
		VisionDim:    128,
		VisionLayers: 2,
		VisionHeads:  4,
		Dim:          128,
		Layers:       3,
		Heads:        4,
		MLPRatio:     4,
		MaxLen:       40,
		Vocab:        world.NewVocab().V(),
		PAD:          world.PAD,
		BOS:          world.BOS,
		EOS:          world.EOS,
		LayerNormEps: 1e-5,
	}
}

// TinyConfig returns a model of a few thousand parameters with the default image size and
// vocabulary: for tests and smoke runs of the training loops, not for learning anything.
func TinyConfig() Config {
	c := DefaultConfig()
	c.Stem1, c.Stem2, c.VisionDim, c.VisionLayers, c.VisionHeads = 8, 8, 16, 1, 2
	c.ProjectorHidden, c.Dim, c.Layers, c.Heads = 0, 16, 1, 2
	return c
}

// ImageTokens returns P, the number of image tokens: the stem halves the side twice.
func (c Config) ImageTokens() int {
	s := c.gridSide()
	return s * s
}

// gridSide is the side of the stem's output grid.
func (c Config) gridSide() int {
	s := c.ImageSize
	for range 2 {
		s = (s+2*1-3)/2 + 1 // 3x3 convolution, stride 2, padding 1
	}
	return s
}

// Validate reports the first invalid field of c.
func (c Config) Validate() error {
	var errs []error
	positive := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %d", name, v))
		}
	}
	positive("ImageSize", c.ImageSize)
	positive("Channels", c.Channels)
	positive("Stem1", c.Stem1)
	positive("Stem2", c.Stem2)
	positive("VisionDim", c.VisionDim)
	positive("VisionLayers", c.VisionLayers)
	positive("VisionHeads", c.VisionHeads)
	positive("Dim", c.Dim)
	positive("Layers", c.Layers)
	positive("Heads", c.Heads)
	positive("MLPRatio", c.MLPRatio)
	positive("MaxLen", c.MaxLen)
	if c.ProjectorHidden < 0 {
		errs = append(errs, fmt.Errorf("ProjectorHidden must be 0 (linear) or positive, got %d", c.ProjectorHidden))
	}
	if c.ImageSize > 0 && c.ImageSize%4 != 0 {
		errs = append(errs, fmt.Errorf("ImageSize must be a multiple of 4, got %d", c.ImageSize))
	}
	if c.VisionHeads > 0 && c.VisionDim%c.VisionHeads != 0 {
		errs = append(errs, fmt.Errorf("VisionHeads (%d) must divide VisionDim (%d)", c.VisionHeads, c.VisionDim))
	}
	if c.Heads > 0 && c.Dim%c.Heads != 0 {
		errs = append(errs, fmt.Errorf("Heads (%d) must divide Dim (%d)", c.Heads, c.Dim))
	}
	if c.Vocab < 4 {
		errs = append(errs, fmt.Errorf("Vocab must be at least 4 (PAD, BOS, EOS and a word), got %d", c.Vocab))
	}
	for _, f := range []struct {
		name string
		id   int
	}{{"PAD", c.PAD}, {"BOS", c.BOS}, {"EOS", c.EOS}} {
		if f.id < 0 || f.id >= c.Vocab {
			errs = append(errs, fmt.Errorf("%s id %d is outside the vocabulary [0, %d)", f.name, f.id, c.Vocab))
		}
	}
	if c.PAD == c.BOS || c.PAD == c.EOS || c.BOS == c.EOS {
		errs = append(errs, fmt.Errorf("PAD, BOS and EOS must be distinct, got %d, %d, %d", c.PAD, c.BOS, c.EOS))
	}
	if !(c.LayerNormEps > 0) {
		errs = append(errs, fmt.Errorf("LayerNormEps must be positive, got %g", c.LayerNormEps))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("policy config: %w", err)
	}
	return nil
}

// diff lists the fields in which c and o differ, for error messages.
func (c Config) diff(o Config) []string {
	var d []string
	add := func(name string, a, b any) {
		if a != b {
			d = append(d, fmt.Sprintf("%s %v vs %v", name, a, b))
		}
	}
	add("ImageSize", c.ImageSize, o.ImageSize)
	add("Channels", c.Channels, o.Channels)
	add("Stem1", c.Stem1, o.Stem1)
	add("Stem2", c.Stem2, o.Stem2)
	add("VisionDim", c.VisionDim, o.VisionDim)
	add("VisionLayers", c.VisionLayers, o.VisionLayers)
	add("VisionHeads", c.VisionHeads, o.VisionHeads)
	add("ProjectorHidden", c.ProjectorHidden, o.ProjectorHidden)
	add("Dim", c.Dim, o.Dim)
	add("Layers", c.Layers, o.Layers)
	add("Heads", c.Heads, o.Heads)
	add("MLPRatio", c.MLPRatio, o.MLPRatio)
	add("MaxLen", c.MaxLen, o.MaxLen)
	add("Vocab", c.Vocab, o.Vocab)
	add("PAD", c.PAD, o.PAD)
	add("BOS", c.BOS, o.BOS)
	add("EOS", c.EOS, o.EOS)
	add("LayerNormEps", c.LayerNormEps, o.LayerNormEps)
	return d
}
