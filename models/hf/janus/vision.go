package janus

import (
	"fmt"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// ImageFeatures runs pixels px [B, 3, S, S] (float32, normalised as the processor does, S the
// tower's image_size) through the vision tower and the aligner: the features [B*G*G, D] that
// replace the <image_placeholder> tokens, image after image, each in row-major patch order.
func (m *Model) ImageFeatures(a *raw.Arena, px raw.Tensor) raw.Tensor {
	sh := a.Shape(px)
	if sh == nil {
		return nil
	}
	v := m.cfg.Vision
	if len(sh) != 4 || sh[1] != int64(v.Channels) || sh[2] != int64(v.ImageSize) || sh[3] != int64(v.ImageSize) {
		a.Fail(fmt.Errorf("hf: janus: pixels of shape %v, the vision tower reads [B, %d, %d, %d]", sh, v.Channels, v.ImageSize, v.ImageSize))
		return nil
	}
	hidden := m.vision.Forward(a, a.To(px, raw.Float32), sh[0], sh[2])
	last := m.vision.Norm(a, hidden[len(hidden)-1], m.visionNorm) // post_layernorm
	f := m.aligner.forward(a, last)                               // [B, G*G, D]
	return a.Reshape(f, sh[0]*int64(v.Tokens), int64(m.cfg.Text.D))
}
