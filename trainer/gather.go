package trainer

import (
	"fmt"
	"math"

	"github.com/unigrpo/unigrpo/collective"
)

// Gathers of work split over the ranks (the held-out evaluation's rows and captions). The ring
// carries float32; an all-gather copies and never adds, so float64s travel exactly as the two
// halves of their bits, and text as one byte per element.

// splitRange is rank's part [lo, hi) of n items split as evenly as the ranks allow.
func splitRange(n, rank, world int) (lo, hi int) { return n * rank / world, n * (rank + 1) / world }

// allGather gives every rank every rank's send (per elements each), in rank order.
func (d *Dist) allGather(send []float32) ([]float32, error) {
	all := make([]float32, d.World()*len(send))
	if d.World() == 1 {
		copy(all, send)
		return all, nil
	}
	ctx, cancel := d.ctx()
	defer cancel()
	if err := d.Comm.AllGather(ctx, collective.Host(send), collective.Host(all)); err != nil {
		return nil, fmt.Errorf("all-gather: %w", err)
	}
	return all, nil
}

// gatherRows concatenates every rank's rows of width float64s, rank r holding the rows
// splitRange(n, r, W), into the n rows of all ranks, bit for bit.
func (d *Dist) gatherRows(rows [][]float64, n, width int) ([][]float64, error) {
	per := (n + d.World() - 1) / d.World()
	send := make([]float32, 2*per*width)
	for i, row := range rows {
		if len(row) != width {
			return nil, fmt.Errorf("gather: a row of %d values, want %d", len(row), width)
		}
		for j, v := range row {
			b := math.Float64bits(v)
			send[2*(i*width+j)] = math.Float32frombits(uint32(b >> 32))
			send[2*(i*width+j)+1] = math.Float32frombits(uint32(b))
		}
	}
	all, err := d.allGather(send)
	if err != nil {
		return nil, err
	}
	out := make([][]float64, 0, n)
	for r := range d.World() {
		lo, hi := splitRange(n, r, d.World())
		for i := range hi - lo {
			row := make([]float64, width)
			for j := range row {
				k := r*len(send) + 2*(i*width+j)
				row[j] = math.Float64frombits(uint64(math.Float32bits(all[k]))<<32 | uint64(math.Float32bits(all[k+1])))
			}
			out = append(out, row)
		}
	}
	return out, nil
}

// gatherTexts concatenates every rank's texts, rank r holding splitRange(n, r, W) of them.
func (d *Dist) gatherTexts(texts []string, n int) ([]string, error) {
	longest := 0
	for _, t := range texts {
		longest = max(longest, len(t))
	}
	mx, err := d.Max([]float64{float64(longest)})
	if err != nil {
		return nil, err
	}
	per, width := (n+d.World()-1)/d.World(), int(mx[0])+1
	send := make([]float32, per*width)
	for i, t := range texts {
		send[i*width] = float32(len(t))
		for j := 0; j < len(t); j++ {
			send[i*width+1+j] = float32(t[j])
		}
	}
	all, err := d.allGather(send)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, n)
	for r := range d.World() {
		lo, hi := splitRange(n, r, d.World())
		for i := range hi - lo {
			at := r*len(send) + i*width
			b := make([]byte, int(all[at]))
			for j := range b {
				b[j] = byte(all[at+1+j])
			}
			out = append(out, string(b))
		}
	}
	return out, nil
}
