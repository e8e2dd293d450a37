package hf

import (
	"fmt"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// KVCache holds, per layer, the keys and values of every position seen so far in buffers
// [R, KV, C, Dh] allocated once, at the first step (C the capacity the Stepper was made with, R
// its rows), and written in place: a step copies in its own positions only, and attention reads
// the filled prefix [R, KV, S, Dh] as a view. The first step may expand its B rows to R (row r
// of the cache starts as row expand[r] of the step: one prompt prefill serving several samples).
type KVCache struct {
	k, v     []raw.Tensor
	keep     *raw.Arena // owns the buffers
	kind     raw.Kind
	capacity int
	filled   int     // positions written by completed steps
	expand   []int64 // the running step's row map (nil: rows as they are)
}

// newKVCache is an empty cache of L layers for positions up to capacity.
func newKVCache(dev int32, L, capacity int, kind raw.Kind) *KVCache {
	return &KVCache{k: make([]raw.Tensor, L), v: make([]raw.Tensor, L), keep: raw.New(dev), kind: kind, capacity: capacity}
}

// write stores layer l's keys and values [B, KV, T, Dh] of the running step at positions
// [filled, filled+T) and returns the keys and values of every position so far [R, KV,
// filled+T, Dh], views of the buffers valid until the next write.
func (c *KVCache) write(a *raw.Arena, l int, k, v raw.Tensor) (K, V raw.Tensor) {
	sh := a.Shape(k)
	if sh == nil {
		return nil, nil
	}
	T := sh[2]
	if c.filled+int(T) > c.capacity {
		a.Fail(fmt.Errorf("hf: the key/value cache holds %d positions and is full: %d more do not fit (give NewStepper a larger capacity)", c.capacity, c.filled+int(T)-c.capacity))
		return nil, nil
	}
	if c.expand != nil {
		if c.filled > 0 {
			a.Fail(fmt.Errorf("hf: only the first step of a key/value cache may expand its rows"))
			return nil, nil
		}
		idx := a.FromInt64(c.expand, int64(len(c.expand)))
		k, v = a.IndexSelect(k, 0, idx), a.IndexSelect(v, 0, idx)
		sh[0] = int64(len(c.expand))
	}
	if c.k[l] == nil {
		c.k[l] = c.keep.Empty(c.kind, sh[0], sh[1], int64(c.capacity), sh[3])
		c.v[l] = c.keep.Empty(c.kind, sh[0], sh[1], int64(c.capacity), sh[3])
		if err := c.keep.Err(); err != nil {
			a.Fail(fmt.Errorf("hf: key/value cache of layer %d: %w", l, err))
			return nil, nil
		}
	} else if rows := c.keep.Shape(c.k[l])[0]; rows != sh[0] {
		a.Fail(fmt.Errorf("hf: a step of %d rows on a key/value cache of %d", sh[0], rows))
		return nil, nil
	}
	at, n := int64(c.filled), int64(c.filled)+T
	a.Copy(a.Narrow(c.k[l], 2, at, T), k)
	a.Copy(a.Narrow(c.v[l], 2, at, T), v)
	return a.Narrow(c.k[l], 2, 0, n), a.Narrow(c.v[l], 2, 0, n)
}

// commit ends a step of T positions whose every layer was written.
func (c *KVCache) commit(T int) {
	c.filled += T
	c.expand = nil
}

// Filled is the number of positions the cache holds.
func (c *KVCache) Filled() int { return c.filled }

// bytes is the memory of the buffers.
func (c *KVCache) bytes() int64 {
	var n int64
	for l := range c.k {
		n += raw.Bytes(c.k[l]) + raw.Bytes(c.v[l])
	}
	return n
}

// free frees the buffers.
func (c *KVCache) free() error { return c.keep.Free() }
