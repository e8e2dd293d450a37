package captioner

import (
	"fmt"
	"slices"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/world"
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

// packImages packs images (values in [0, 1]) into buf as [B, C, S, S] scaled to [-1, 1].
func (m *Model) packImages(buf []float32, images []world.Image) []float32 {
	c := m.cfg
	per := c.Channels * c.ImageSize * c.ImageSize
	buf = slices.Grow(buf[:0], len(images)*per)[:len(images)*per]
	for i, im := range images {
		dst := buf[i*per : (i+1)*per]
		for j, v := range im.Pix {
			dst[j] = 2*v - 1
		}
	}
	return buf
}

// visionCache keeps the frozen vision encoder's output for the last batch of images: a GRPO
// step encodes the same images when sampling and when scoring.
type visionCache struct {
	pix   []float32  // the packed images of the cached batch
	feats raw.Tensor // their vision tokens [B, P, Dv], computed without autograd
	arena *raw.Arena // owns feats
}

// reset drops the cached features (the vision weights or their trainability changed).
func (v *visionCache) reset() {
	if v.arena != nil {
		_ = v.arena.Free()
	}
	v.feats = nil
	v.pix = v.pix[:0]
}

// encodeImages checks and encodes images into image tokens [B, P, D]. When the vision group is
// frozen the vision encoder runs without recording an autograd graph, and its output for the
// last batch of images is reused when the same images come again.
func (m *Model) encodeImages(a *raw.Arena, images []world.Image) (raw.Tensor, error) {
	if err := m.checkImages(images); err != nil {
		return nil, err
	}
	c := m.cfg
	B := int64(len(images))
	s := int64(c.ImageSize)
	m.pix = m.packImages(m.pix, images)
	if m.trainable[Vision] {
		x := a.FromFloat32(m.pix, B, int64(c.Channels), s, s)
		return m.encode(a, x, B), nil
	}
	vc := &m.vision
	if vc.feats == nil || !slices.Equal(vc.pix, m.pix) {
		vc.reset()
		prev := raw.SetGradEnabled(false)
		x := a.FromFloat32(m.pix, B, int64(c.Channels), s, s)
		h := m.encodeVision(a, x, B)
		raw.SetGradEnabled(prev)
		if err := a.Err(); err != nil {
			return nil, err
		}
		a.Release(h)
		vc.arena.Adopt(h)
		vc.feats = h
		vc.pix = append(vc.pix[:0], m.pix...)
	}
	return m.project(a, vc.feats), nil
}
