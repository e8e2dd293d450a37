package janus

import (
	"fmt"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
)

// The policy's image handling: the pixels both directions read, the features of the rows that
// show an image, and the images codes decode to.

// features runs the vision tower and aligner on B images: [B*P, D], image b's features in rows
// b*P..b*P+P-1.
func (p *Policy) features(a *raw.Arena, imgs []images.Planar) (raw.Tensor, error) {
	px, err := p.pixels(a, imgs)
	if err != nil {
		return nil, err
	}
	return p.Model.ImageFeatures(a, px), nil
}

// rowFeatures picks, for rows that each show image of[r] (-1: none), the features of their
// placeholders in row order from feats [B*P, D].
func (p *Policy) rowFeatures(a *raw.Arena, feats raw.Tensor, of []int) raw.Tensor {
	P := p.Placeholders()
	var idx []int64
	for _, b := range of {
		for k := 0; k < P && b >= 0; k++ {
			idx = append(idx, int64(b*P+k))
		}
	}
	if len(idx) == 0 {
		return nil
	}
	return a.Embedding(feats, a.FromInt64(idx, int64(len(idx))))
}

// pixels preprocesses images for the VQ-VAE and the vision tower: [B, 3, S, S] in [-1, 1].
func (p *Policy) pixels(a *raw.Arena, imgs []images.Planar) (raw.Tensor, error) {
	m := p.Model
	S := int64(m.cfg.Vision.ImageSize)
	px := make([]float32, 0, len(imgs)*3*int(S*S))
	for i, im := range imgs {
		v, err := m.PreprocessImage(im)
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
		px = append(px, v...)
	}
	return a.FromFloat32(px, int64(len(imgs)), 3, S, S), nil
}

// DecodeImages decodes codes to images with values in [0, 1] (the VQ-VAE's [-1, 1], clamped).
func (p *Policy) DecodeImages(codes [][]int) ([]images.Planar, error) {
	px, err := p.Model.DecodeCodes(codes)
	if err != nil {
		return nil, err
	}
	S := len(px) / (3 * len(codes))
	side := 1
	for side*side < S {
		side++
	}
	out := make([]images.Planar, len(codes))
	for b := range out {
		im := images.NewPlanar(3, side, side)
		for i, v := range px[b*S*3 : (b+1)*S*3] {
			im.Pix[i] = min(1, max(0, (v+1)/2))
		}
		out[b] = im
	}
	return out, nil
}
