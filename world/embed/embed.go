// Package embed holds the frozen image embedders that score reconstructions,
// in the roles CLIP and DINO play in the paper: a random convolutional net, a
// pooled-colour descriptor and an edge-orientation (shape) descriptor. Each
// maps a world.Image to a vector that is mean-centred (the mean embedding of
// prior scenes is subtracted) and L2-normalised, so the cosine similarity of
// two embeddings is the reward. They are reward.Embedders. Centring matters: without it an empty
// reconstruction already scores high, because all scenes look alike on
// average.
package embed

import (
	"math"
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/world"
)

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

// centred turns an extractor into a reward.Embedder: it subtracts the prior mean,
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
