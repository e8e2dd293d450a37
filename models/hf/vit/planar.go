package vit

import (
	"fmt"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
)

// LoadEmbedder loads a vision encoder folder as the reward's embedders run it by default:
// float32 on the CPU, DefaultMaxBatch images a pass. Close the Model when done.
func LoadEmbedder(dir string) (*Model, error) { return LoadEmbedderWith(dir, EmbedderOptions{}) }

// EmbedderOptions say where the reward's encoders run.
type EmbedderOptions struct {
	Device   gotch.Device // where the weights live and the forward passes run (the zero value is the CPU)
	MaxBatch int          // most images a forward pass (0: DefaultMaxBatch)
}

// LoadEmbedderWith loads a vision encoder folder in float32 on o.Device with o.MaxBatch images
// a pass. Its libtorch calls, loading included, belong on one goroutine locked to its OS thread.
func LoadEmbedderWith(dir string, o EmbedderOptions) (*Model, error) {
	if o.MaxBatch < 0 {
		return nil, fmt.Errorf("hf: a batch of %d images: give at least 1 (0 for the default %d)", o.MaxBatch, DefaultMaxBatch)
	}
	dev := o.Device
	if dev == (gotch.Device{}) {
		dev = gotch.CPU
	}
	v, err := LoadForImages(dir, dev, raw.Float32)
	if err != nil {
		return nil, err
	}
	if o.MaxBatch > 0 {
		v.maxBatch = o.MaxBatch
	}
	return v, nil
}

// Planar adapts a Model to float images: a reward.Embedder. Its features are L2-normalised but
// not mean-centred, and it is not safe for concurrent use.
type Planar struct{ V *Model }

// Name is the family's short name.
func (p Planar) Name() string { return p.V.Name() }

// Dim is the length of the feature.
func (p Planar) Dim() int { return p.V.Dim() }

// Embed returns the L2-normalised feature of im; an image that is not a well-formed 1- or
// 3-channel image embeds to the zero vector, and a model failure panics.
func (p Planar) Embed(im images.Planar) []float32 {
	if !im.Valid() || (im.C != 3 && im.C != 1) {
		return make([]float32, p.V.Dim())
	}
	out, err := p.V.EmbedPlanar([]images.Planar{im})
	if err != nil {
		panic(fmt.Sprintf("hf: %s embedder: %v", p.V.Name(), err))
	}
	return out[0]
}

// EmbedBatch returns the L2-normalised features of many images in as few forward passes as the
// model's MaxBatch allows (reward.BatchEmbedder); an image that is not a well-formed 1- or
// 3-channel image gets the zero vector, as Embed gives it.
func (p Planar) EmbedBatch(ims []images.Planar) ([][]float32, error) {
	out := make([][]float32, len(ims))
	var ok []images.Planar
	var at []int
	for i, im := range ims {
		if !im.Valid() || (im.C != 3 && im.C != 1) {
			out[i] = make([]float32, p.V.Dim())
			continue
		}
		ok, at = append(ok, im), append(at, i)
	}
	if len(ok) == 0 {
		return out, nil
	}
	feats, err := p.V.EmbedPlanar(ok)
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		out[i] = feats[j]
	}
	return out, nil
}
