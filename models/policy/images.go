package policy

import (
	"fmt"

	"github.com/unigrpo/unigrpo/models/internal/raw"
	"github.com/unigrpo/unigrpo/models/world"
)

// checkImages reports the first image that does not have the model's shape.
func (m *Model) checkImages(images []world.Image) error {
	c := m.cfg
	if len(images) == 0 {
		return fmt.Errorf("policy: no images")
	}
	for i, im := range images {
		if im.C != c.Channels || im.H != c.ImageSize || im.W != c.ImageSize {
			return fmt.Errorf("policy: image %d has shape %dx%dx%d (CxHxW), the model expects %dx%dx%d",
				i, im.C, im.H, im.W, c.Channels, c.ImageSize, c.ImageSize)
		}
		if len(im.Pix) != im.C*im.H*im.W {
			return fmt.Errorf("policy: image %d has %d pixel values for shape %dx%dx%d",
				i, len(im.Pix), im.C, im.H, im.W)
		}
	}
	return nil
}

// imageTensor packs images (values in [0, 1]) into a [B, C, S, S] tensor scaled to [-1, 1].
func (m *Model) imageTensor(a *raw.Arena, images []world.Image) raw.Tensor {
	c := m.cfg
	per := c.Channels * c.ImageSize * c.ImageSize
	buf := make([]float32, len(images)*per)
	for i, im := range images {
		dst := buf[i*per : (i+1)*per]
		for j, v := range im.Pix {
			dst[j] = 2*v - 1
		}
	}
	s := int64(c.ImageSize)
	return a.FromFloat32(buf, int64(len(images)), int64(c.Channels), s, s)
}

// encodeImages checks and encodes images into image tokens [B, P, D]. When the vision group is
// frozen the vision encoder runs without recording an autograd graph.
func (m *Model) encodeImages(a *raw.Arena, images []world.Image) (raw.Tensor, error) {
	if err := m.checkImages(images); err != nil {
		return nil, err
	}
	x := m.imageTensor(a, images)
	if m.trainable[Vision] {
		return m.encode(a, x, int64(len(images))), nil
	}
	prev := raw.SetGradEnabled(false)
	h := m.encodeVision(a, x, int64(len(images)))
	raw.SetGradEnabled(prev)
	return m.project(a, h), nil
}
