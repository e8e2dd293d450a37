package qwenvl

import (
	"fmt"
	"math"
)

// visionLayout is what the vision tower computes from the images' grids alone: the window
// order of the patches, the attention segments and the rotary angles.
type visionLayout struct {
	N       int     // patches
	order   []int64 // order[i]: the original index of the patch at place i in window order
	inverse []int64 // inverse[j]: the window-order place of merged token j (original order)
	windows []int   // window segment boundaries in window order (cumulative, from 0)
	frames  []int   // full-attention segment boundaries (one frame each)
	cos     []float32
	sin     []float32 // [N, Dh] in window order
}

// layout is transformers' rot_pos_emb, get_window_index and cu_seqlens for the grids
// (t, h, w in patches) of the images, in that order.
func (v *visionTower) layout(grids [][3]int) (*visionLayout, error) {
	c := v.cfg
	ms := c.Merge
	unit := ms * ms
	win := c.Window / ms / c.Patch // window side in merged tokens
	Dh := c.D / c.H
	// Rotary: the head's first quarter of frequencies rotate by the row, the second by the
	// column (rotary dim Dh/2, inv_freq over Dh/4 pairs), repeated for the two halves.
	q := Dh / 4
	inv := make([]float32, q)
	for i := range inv {
		inv[i] = float32(1 / math.Pow(c.RopeTheta, float64(2*i)/float64(Dh/2)))
	}
	L := &visionLayout{windows: []int{0}, frames: []int{0}}
	var rows, cols []int // per patch, original order
	base := 0            // merged tokens before this image
	for gi, g := range grids {
		gt, gh, gw := g[0], g[1], g[2]
		if gt < 1 || gh < 1 || gw < 1 || gh%ms != 0 || gw%ms != 0 {
			return nil, fmt.Errorf("hf: image %d: grid %v is not positive multiples of spatial_merge_size %d", gi, g, ms)
		}
		lh, lw := gh/ms, gw/ms
		for range gt {
			// Patches come in merge x merge blocks, the blocks row-major.
			for bh := range lh {
				for bw := range lw {
					for mh := range ms {
						for mw := range ms {
							rows = append(rows, bh*ms+mh)
							cols = append(cols, bw*ms+mw)
						}
					}
				}
			}
		}
		// Windows of win x win merged tokens, row-major, over the grid padded to whole windows
		// (transformers pads by a whole window when the side is already a multiple: empty windows).
		nh, nw := (lh+win-lh%win)/win, (lw+win-lw%win)/win
		for t := range gt {
			for wy := range nh {
				for wx := range nw {
					count := 0
					for y := wy * win; y < min((wy+1)*win, lh); y++ {
						for x := wx * win; x < min((wx+1)*win, lw); x++ {
							j := base + (t*lh+y)*lw + x
							for k := range unit {
								L.order = append(L.order, int64(j*unit+k))
							}
							count++
						}
					}
					if count > 0 {
						L.windows = append(L.windows, L.windows[len(L.windows)-1]+count*unit)
					}
				}
			}
			L.frames = append(L.frames, L.frames[len(L.frames)-1]+gh*gw)
		}
		base += gt * lh * lw
	}
	L.N = len(rows)
	L.inverse = make([]int64, L.N/unit)
	for i := 0; i < L.N; i += unit {
		L.inverse[L.order[i]/int64(unit)] = int64(i / unit)
	}
	L.rotary(rows, cols, inv, Dh)
	return L, nil
}

// rotary fills the layout's cos and sin [N, Dh] in window order: the head's first quarter of
// frequencies inv rotate by the patch's row, the second by its column, repeated for the two
// halves of the head.
func (L *visionLayout) rotary(rows, cols []int, inv []float32, Dh int) {
	q := len(inv)
	L.cos = make([]float32, L.N*Dh)
	L.sin = make([]float32, L.N*Dh)
	for i, p := range L.order {
		r, col := float32(rows[p]), float32(cols[p])
		for k := range 2 * q {
			var ang float32
			if k < q {
				ang = r * inv[k]
			} else {
				ang = col * inv[k-q]
			}
			cs, sn := float32(math.Cos(float64(ang))), float32(math.Sin(float64(ang)))
			for _, off := range []int{k, k + Dh/2} {
				L.cos[i*Dh+off], L.sin[i*Dh+off] = cs, sn
			}
		}
	}
}
