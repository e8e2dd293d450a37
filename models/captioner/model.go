package captioner

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/world"
)

// Model is the captioner. Create it with New or Load; free its tensors with Close.
// See the package comment for the threading rule.
type Model struct {
	cfg       Config
	dev       gotch.Device
	params    []*param
	w         weights
	trainable [numGroups]bool
	// a is the arena of the call in progress; tokArena is the per-token arena of the sampler.
	a, tokArena *raw.Arena
	// ban is a [V] float32 tensor added to logits: -1e9 at PAD and BOS, 0 elsewhere.
	ban raw.Tensor
	// statics owns ban.
	statics *raw.Arena
	// vision caches the frozen vision encoder's output; pix is scratch for packed images.
	vision visionCache
	pix    []float32
	// vocab is the world's caption language, the captioner's tokenizer (Text).
	vocab *world.Vocab
}

// linearW is a linear layer (or convolution): weight and bias.
type linearW struct{ w, b raw.Tensor }

// normW is a LayerNorm's weight and bias.
type normW struct{ w, b raw.Tensor }

// blockW is a pre-norm transformer block.
type blockW struct {
	ln1, ln2 normW
	qkv, out linearW
	fc1, fc2 linearW
}

// weights holds raw handles of every parameter, by role.
type weights struct {
	conv    [3]linearW
	vpos    raw.Tensor // [P, Dv]
	vblocks []blockW
	vnorm   normW
	proj    []linearW  // one linear layer, or two with a GELU between
	tok     raw.Tensor // [V, D]
	pos     raw.Tensor // [P+MaxLen, D]
	blocks  []blockW
	norm    normW
	head    linearW // [V, D], [V]
}

// New returns a model with the sizes of cfg on device dev, initialised from seed: the same
// seed gives the same weights on every machine (values are drawn in Go, not by libtorch).
// Every group starts trainable.
func New(cfg Config, dev gotch.Device, seed uint64) (*Model, error) {
	return build(cfg, dev, rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)))
}

// build creates the model; rng nil leaves normal-initialised weights at zero.
func build(cfg Config, dev gotch.Device, rng *rand.Rand) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{cfg: cfg, dev: dev, trainable: [numGroups]bool{true, true, true}, vocab: world.NewVocab()}
	m.a = raw.New(dev.CInt())
	m.tokArena = raw.New(dev.CInt())
	m.statics = raw.New(dev.CInt())
	m.vision.arena = raw.New(dev.CInt())
	b := &builder{m: m, rng: rng}
	c := cfg
	P := c.ImageTokens()

	// Parameters draw their initial values in the order they are created here: reordering
	// changes what a seed means.
	m.w.conv[0] = b.conv(Vision, "vision.conv1", c.Channels, c.Stem1, math.Sqrt2)
	m.w.conv[1] = b.conv(Vision, "vision.conv2", c.Stem1, c.Stem2, math.Sqrt2)
	m.w.conv[2] = b.conv(Vision, "vision.conv3", c.Stem2, c.VisionDim, 1)
	m.w.vpos = b.add(Vision, "vision.pos", initNormal, 0.02, int64(P), int64(c.VisionDim))
	for i := range c.VisionLayers {
		m.w.vblocks = append(m.w.vblocks,
			b.block(Vision, fmt.Sprintf("vision.layer%d", i), c.VisionDim, c.MLPRatio, c.VisionLayers))
	}
	m.w.vnorm = b.norm(Vision, "vision.norm", c.VisionDim)

	if c.ProjectorHidden > 0 {
		m.w.proj = []linearW{
			b.linear(Projector, "projector.fc1", c.VisionDim, c.ProjectorHidden, 0.02),
			b.linear(Projector, "projector.fc2", c.ProjectorHidden, c.Dim, 0.02),
		}
	} else {
		m.w.proj = []linearW{b.linear(Projector, "projector.fc", c.VisionDim, c.Dim, 0.02)}
	}

	m.w.tok = b.add(LM, "lm.tok", initNormal, 0.02, int64(c.Vocab), int64(c.Dim))
	m.w.pos = b.add(LM, "lm.pos", initNormal, 0.02, int64(P+c.MaxLen), int64(c.Dim))
	for i := range c.Layers {
		m.w.blocks = append(m.w.blocks,
			b.block(LM, fmt.Sprintf("lm.layer%d", i), c.Dim, c.MLPRatio, c.Layers))
	}
	m.w.norm = b.norm(LM, "lm.norm", c.Dim)
	m.w.head = b.linear(LM, "lm.head", c.Dim, c.Vocab, 0.02)

	ban := make([]float32, c.Vocab)
	ban[c.PAD], ban[c.BOS] = -1e9, -1e9
	m.ban = m.statics.FromFloat32(ban, int64(c.Vocab))
	if err := m.statics.Err(); err != nil && b.err == nil {
		b.err = fmt.Errorf("policy: create logit mask: %w", err)
	}
	if b.err != nil {
		m.Close()
		return nil, b.err
	}
	return m, nil
}

// Config returns the model's sizes.
func (m *Model) Config() Config { return m.cfg }

// Device returns the device the model's tensors live on.
func (m *Model) Device() gotch.Device { return m.dev }

// SetThreads sets the number of threads libtorch uses inside one operation, for the whole
// process, and OpenBLAS's own pool when libtorch runs on OpenBLAS. One thread per process is
// fastest for this model on CPU (run more processes to use more cores). It reports whether
// OpenBLAS was found.
func SetThreads(n int) (openBLAS bool) { return raw.SetThreads(n) }

// Close frees the model's tensors. The model must not be used afterwards.
func (m *Model) Close() {
	for _, p := range m.params {
		if p.Tensor != nil {
			p.Tensor.MustDrop()
			p.Tensor = nil
		}
	}
	m.params = nil
	m.vision.reset()
	if m.statics != nil {
		_ = m.statics.Free()
	}
	if m.a != nil {
		_ = m.a.Free()
	}
	if m.tokArena != nil {
		_ = m.tokArena.Free()
	}
}

// CopyFrom copies every parameter value of src (a model of the same Config, on any device)
// into m, e.g. to make a frozen reference copy of a policy for the KL term. Trainability is not
// copied.
func (m *Model) CopyFrom(src *Model) error {
	if d := m.cfg.diff(src.cfg); len(d) > 0 {
		return fmt.Errorf("policy: copy between models of different configs: %v", d)
	}
	m.vision.reset()
	a := m.a
	prev := raw.SetGradEnabled(false)
	defer raw.SetGradEnabled(prev)
	for i, p := range m.params {
		a.Copy(p.h, src.params[i].h)
	}
	if err := a.Free(); err != nil {
		return fmt.Errorf("policy: copy parameters: %w", err)
	}
	return nil
}

// Clone returns a new model on the same device with the same config and weights as m.
func (m *Model) Clone() (*Model, error) {
	c, err := build(m.cfg, m.dev, nil)
	if err != nil {
		return nil, err
	}
	if err := c.CopyFrom(m); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Text returns a caption's words in the world's language (the captioner's tokenizer).
func (m *Model) Text(tokens []int) string { return m.vocab.Decode(tokens) }

// MaxLen returns the most tokens a caption may have, EOS included.
func (m *Model) MaxLen() int { return m.cfg.MaxLen }

// InputSize returns the side of the square images the model reads.
func (m *Model) InputSize() int { return m.cfg.ImageSize }
