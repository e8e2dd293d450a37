// Package embed holds the frozen image embedders that score reconstructions,
// in the roles CLIP and DINO play in the paper: a random convolutional net, a
// pooled-colour descriptor and an edge-orientation (shape) descriptor. Each
// maps a world.Image to a vector that is mean-centred (the mean embedding of
// prior scenes is subtracted) and L2-normalised, so the cosine similarity of
// two embeddings is the reward. Centring matters: without it an empty
// reconstruction already scores high, because all scenes look alike on
// average.
package embed

import (
	"math"
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/internal/vec"
	"github.com/unigrpo/unigrpo/world"
)

// Embedder maps an image to a fixed-length, mean-centred, L2-normalised
// vector. Implementations are frozen (never trained) and safe for concurrent use.
type Embedder interface {
	// Name is the short name used on the command line and in tables.
	Name() string
	// Dim is the length of the embedding.
	Dim() int
	// Embed returns the embedding of im. An image that is not a well-formed
	// 3-channel image embeds to the zero vector.
	Embed(im world.Image) []float32
}

// Cosine returns the cosine similarity of a and b, or 0 when either is zero or their lengths
// differ.
func Cosine(a, b []float32) float64 { return vec.Cosine(a, b) }

// Similarities returns the cosine similarity of the reconstruction's embedding with each source
// embedding srcEmb[k] of embedder es[k], and their mean: the reward of Unified-GRPO and the
// Overall of Unified-Bench for one image.
func Similarities(es []Embedder, srcEmb [][]float32, rec world.Image) (mean float64, parts []float64) {
	parts = make([]float64, len(es))
	for k, e := range es {
		parts[k] = vec.Cosine(srcEmb[k], e.Embed(rec))
	}
	return vec.Mean(parts), parts
}

// Embeddings returns the embedding of im under each embedder.
func Embeddings(es []Embedder, im world.Image) [][]float32 {
	out := make([][]float32, len(es))
	for k, e := range es {
		out[k] = e.Embed(im)
	}
	return out
}

// MeanReward returns the mean over embedders of the cosine similarity of the source's and the
// reconstruction's embeddings (the paper's "Overall" score); 0 for none.
func MeanReward(es []Embedder, src, rec world.Image) float64 {
	m, _ := Similarities(es, Embeddings(es, src), rec)
	return m
}

// Prior sizes: how many scenes, drawn from this fixed seed, define the mean
// embedding that every embedder subtracts.
const (
	priorScenes = 1000
	priorSeed   = 0x5eed_ce17
)

// priorImages renders the fixed set of prior scenes of a world.
func priorImages(cfg world.Config) []world.Image {
	rng := rand.New(rand.NewPCG(priorSeed, uint64(cfg.Size)))
	ims := make([]world.Image, priorScenes)
	for i := range ims {
		ims[i] = cfg.Render(cfg.Sample(rng))
	}
	return ims
}

// extractor computes raw (uncentred) features.
type extractor interface {
	// blocks returns the lengths of the feature groups, in order; they sum to
	// the feature length. Each group is scaled to equal weight after centring.
	blocks() []int
	// features writes the raw features of a valid 3-channel image into dst.
	features(im world.Image, dst []float32)
}

// centred turns an extractor into an Embedder: it subtracts the prior mean,
// rescales each block so that its centred prior features have unit mean
// squared norm, and L2-normalises.
type centred struct {
	name  string
	ex    extractor
	mean  []float32
	scale []float32
}

// newCentred measures the mean and block scales on the prior images.
func newCentred(name string, ex extractor, prior []world.Image) *centred {
	dim := 0
	for _, b := range ex.blocks() {
		dim += b
	}
	feats := make([][]float32, len(prior))
	sum := make([]float64, dim)
	for i, im := range prior {
		f := make([]float32, dim)
		ex.features(im, f)
		for j, v := range f {
			sum[j] += float64(v)
		}
		feats[i] = f
	}
	c := &centred{name: name, ex: ex, mean: make([]float32, dim), scale: make([]float32, dim)}
	for j := range sum {
		c.mean[j] = float32(sum[j] / float64(len(prior)))
	}
	start := 0
	for _, b := range ex.blocks() {
		ss := 0.0
		for _, f := range feats {
			for j := start; j < start+b; j++ {
				d := float64(f[j] - c.mean[j])
				ss += d * d
			}
		}
		s := float32(1)
		if ss > 0 {
			s = float32(1 / math.Sqrt(ss/float64(len(feats))))
		}
		for j := start; j < start+b; j++ {
			c.scale[j] = s
		}
		start += b
	}
	return c
}

func (c *centred) Name() string { return c.name }

func (c *centred) Dim() int { return len(c.mean) }

func (c *centred) Embed(im world.Image) []float32 {
	v := make([]float32, len(c.mean))
	if !im.Valid() || im.C != 3 {
		return v
	}
	c.ex.features(im, v)
	var ss float64
	for j := range v {
		v[j] = (v[j] - c.mean[j]) * c.scale[j]
		ss += float64(v[j]) * float64(v[j])
	}
	if ss == 0 {
		return v
	}
	inv := float32(1 / math.Sqrt(ss))
	for j := range v {
		v[j] *= inv
	}
	return v
}
