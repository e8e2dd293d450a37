package qwenvl

import "fmt"

// MRoPE holds the multimodal rotary positions of a batch: Pos[a][b][t] is token t of row b's
// position on axis a (0 time, 1 height, 2 width).
type MRoPE [3][][]int

// RopeIndex is transformers' get_rope_index for a batch of rows (left padding allowed: mask 0)
// holding images: text tokens count up one by one on all three axes; the M merged tokens of an
// image (a run of <|image_pad|>, the images in grids' order across the rows) get the position
// (s, s + h, s + w) of their place (h, w) in the image's merged grid, where s is the position
// the image starts at (time stays at s for a still image); the text after an image continues
// from the largest position so far + 1. Padding gets position 1. delta[b] is the position of
// row b's next token minus its index in the row (the offset new tokens continue with).
func (c Config) RopeIndex(ids, mask [][]int, grids [][3]int) (pos MRoPE, delta []int, err error) {
	B := len(ids)
	for a := range pos {
		pos[a] = make([][]int, B)
	}
	delta = make([]int, B)
	ms := c.Vision.Merge
	img := 0
	for b, row := range ids {
		T := len(row)
		for a := range pos {
			pos[a][b] = make([]int, T)
			for t := range pos[a][b] {
				pos[a][b][t] = 1
			}
		}
		next := 0 // the next text position
		for t := 0; t < T; {
			if mask != nil && mask[b][t] == 0 {
				t++
				continue
			}
			if row[t] != c.ImageToken {
				for a := range pos {
					pos[a][b][t] = next
				}
				next++
				t++
				continue
			}
			if img >= len(grids) {
				return pos, nil, fmt.Errorf("hf: the prompts hold more images than the %d given", len(grids))
			}
			g := grids[img]
			img++
			gt, gh, gw := g[0], g[1]/ms, g[2]/ms
			n := gt * gh * gw
			if t+n > T {
				return pos, nil, fmt.Errorf("hf: row %d: an image of %d tokens at position %d of %d", b, n, t, T)
			}
			top := next
			for k := range n {
				i := t + k
				if row[i] != c.ImageToken || (mask != nil && mask[b][i] == 0) {
					return pos, nil, fmt.Errorf("hf: row %d: image %d needs %d <|image_pad|> tokens in a row from position %d", b, img-1, n, t)
				}
				hh, ww := (k/gw)%gh, k%gw
				// Time: frame * second_per_grid_t * tokens_per_second, with second_per_grid_t 0 for images.
				pos[0][b][i], pos[1][b][i], pos[2][b][i] = next, next+hh, next+ww
				top = max(top, next+hh, next+ww)
			}
			next = top + 1
			t += n
		}
		delta[b] = next - T
	}
	if img != len(grids) {
		return pos, nil, fmt.Errorf("hf: %d images given, the prompts hold %d", len(grids), img)
	}
	return pos, delta, nil
}
