package qwenvl

import (
	"fmt"
	"math"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
)

// promptRows is the prompt side of a batch of N = len(imgs)*G rows: the left-padded prompt ids
// and mask [N, T], their M-RoPE positions, each row's next position offset, and the images'
// pixel rows and grids.
type promptRows struct {
	ids, mask [][]int
	pos       MRoPE
	delta     []int
	pixels    []float32
	grids     [][3]int // one per image
	rowGrids  [][3]int // one per row
	tokens    []int    // merged tokens per image
}

func (p *Policy) rows(imgs []images.Planar, G int) (*promptRows, error) {
	r := &promptRows{}
	var prompts [][]int
	for i, im := range imgs {
		if !im.Valid() || im.C != 3 {
			return nil, fmt.Errorf("hf: image %d is not a valid RGB image", i)
		}
		n := im.H * im.W
		rgb := make([]uint8, 3*n)
		for j := range n {
			for c := range 3 {
				rgb[3*j+c] = uint8(math.Round(float64(min(max(im.Pix[c*n+j], 0), 1)) * 255))
			}
		}
		px, grid, err := p.Proc.Preprocess(im.W, im.H, rgb)
		if err != nil {
			return nil, fmt.Errorf("hf: image %d: %w", i, err)
		}
		text, err := p.Proc.ExpandPrompt(p.Prompt, [][3]int{grid})
		if err != nil {
			return nil, err
		}
		ids, err := p.Tok.Encode(text, true)
		if err != nil {
			return nil, fmt.Errorf("hf: %w", err)
		}
		r.pixels = append(r.pixels, px...)
		r.grids = append(r.grids, grid)
		r.tokens = append(r.tokens, grid[0]*grid[1]*grid[2]/(p.Proc.Merge*p.Proc.Merge))
		prompts = append(prompts, ids)
	}
	T := 0
	for _, ids := range prompts {
		T = max(T, len(ids))
	}
	for b, ids := range prompts {
		for range G {
			pad := T - len(ids)
			row := append(make([]int, pad), ids...)
			mask := make([]int, T)
			for t := pad; t < T; t++ {
				mask[t] = 1
			}
			r.ids = append(r.ids, row)
			r.mask = append(r.mask, mask)
			r.rowGrids = append(r.rowGrids, r.grids[b])
		}
	}
	var err error
	r.pos, r.delta, err = p.Model.cfg.RopeIndex(r.ids, r.mask, r.rowGrids)
	return r, err
}

// features runs the frozen vision tower (grad off) on the images once and returns the features
// of every row's image tokens [sum over rows, D], image b's repeated for its G rows; detached.
func (p *Policy) features(a *raw.Arena, r *promptRows, G int) (raw.Tensor, error) {
	prev := raw.SetGradEnabled(false)
	row := p.Model.cfg.Vision.Channels * p.Model.cfg.Vision.TemporalPatch * p.Model.cfg.Vision.Patch * p.Model.cfg.Vision.Patch
	f, err := p.Model.vision.encode(a, a.FromFloat32(r.pixels, int64(len(r.pixels)/row), int64(row)), r.grids)
	raw.SetGradEnabled(prev)
	if err != nil {
		return nil, err
	}
	var idx []int64
	off := 0
	for _, n := range r.tokens {
		for range G {
			for k := range n {
				idx = append(idx, int64(off+k))
			}
		}
		off += n
	}
	return a.Embedding(a.Detach(f), a.FromInt64(idx, int64(len(idx)))), a.Err()
}
