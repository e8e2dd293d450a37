package vit

import (
	"fmt"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
)

// LoadEmbedder loads a vision encoder folder as the reward's embedders run it: float32 on the
// CPU. Close the Model when done.
func LoadEmbedder(dir string) (*Model, error) { return LoadForImages(dir, gotch.CPU, raw.Float32) }

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
