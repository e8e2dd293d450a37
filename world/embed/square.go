package embed

import (
	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/reward"
	"github.com/unigrpo/unigrpo/world"
)

// Square adapts an embedder of world images to 8-bit square images of the given side (image
// files fitted by package images), for Unified-Bench on image files.
type Square struct {
	reward.Embedder
	Side int
}

// Size is the side of the square input.
func (s Square) Size() int { return s.Side }

// Embed converts the 8-bit RGB pixels to a world image (CHW, values in [0, 1]) and embeds it.
func (s Square) Embed(sq images.Square) []float32 {
	return s.Embedder.Embed(world.FromRGB8(sq.Size, sq.Size, sq.RGB))
}
