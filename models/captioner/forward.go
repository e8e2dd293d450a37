package captioner

import (
	"math"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// This file holds the network's building blocks on raw handles. Every function takes the arena
// that owns its results and the sizes of its inputs (known in Go, never read back from
// libtorch).

// width is a transformer's width and head count.
type width struct{ d, heads int64 }

func (w width) dh() int64 { return w.d / w.heads }

func (m *Model) visionWidth() width {
	return width{int64(m.cfg.VisionDim), int64(m.cfg.VisionHeads)}
}

func (m *Model) lmWidth() width { return width{int64(m.cfg.Dim), int64(m.cfg.Heads)} }

// qkv returns the queries, keys and values [R, H, L, Dh] of block bw for x [R, L, d].
func (m *Model) qkv(a *raw.Arena, bw *blockW, x raw.Tensor, R, L int64, w width) (q, k, v raw.Tensor) {
	h := a.LayerNorm(x, bw.ln1.w, bw.ln1.b, w.d, m.cfg.LayerNormEps)
	t := a.Linear(h, bw.qkv.w, bw.qkv.b)    // [R, L, 3d]
	t = a.View(t, R, L, 3, w.heads, w.dh()) // [R, L, 3, H, Dh]
	t = a.Permute(t, 2, 0, 3, 1, 4)         // [3, R, H, L, Dh]
	return a.Select(t, 0, 0), a.Select(t, 0, 1), a.Select(t, 0, 2)
}

// finish completes block bw on x [R, L, d]: attention of q [R, H, L, Dh] over keys and values
// [R, H, Lk, Dh] with an optional additive mask [L, Lk], then post.
func (m *Model) finish(a *raw.Arena, bw *blockW, x, q, keys, values, mask raw.Tensor, R, L int64, w width) raw.Tensor {
	q = a.MulScalar(q, 1/math.Sqrt(float64(w.dh())))
	s := a.Matmul(q, a.Transpose(keys, -2, -1)) // [R, H, L, Lk]
	if mask != nil {
		s = a.Add(s, mask)
	}
	o := a.Matmul(a.Softmax(s, -1), values) // [R, H, L, Dh]
	return m.post(a, bw, x, a.Reshape(a.Transpose(o, 1, 2), R, L, w.d), w)
}

// post adds the output projection of the attention result o [R, L, d] (heads concatenated) to
// the residual stream x [R, L, d], then the MLP branch.
func (m *Model) post(a *raw.Arena, bw *blockW, x, o raw.Tensor, w width) raw.Tensor {
	x = a.Add(x, a.Linear(o, bw.out.w, bw.out.b))
	h := a.LayerNorm(x, bw.ln2.w, bw.ln2.b, w.d, m.cfg.LayerNormEps)
	h = a.Linear(a.Gelu(a.Linear(h, bw.fc1.w, bw.fc1.b)), bw.fc2.w, bw.fc2.b)
	return a.Add(x, h)
}

// encode runs the vision encoder and projector on images x [B, C, S, S]: image tokens
// [B, P, D] in the language model's width.
func (m *Model) encode(a *raw.Arena, x raw.Tensor, B int64) raw.Tensor {
	return m.project(a, m.encodeVision(a, x, B))
}

// encodeVision runs the vision encoder on images x [B, C, S, S]: image tokens [B, P, Dv].
func (m *Model) encodeVision(a *raw.Arena, x raw.Tensor, B int64) raw.Tensor {
	P := int64(m.cfg.ImageTokens())
	vw := m.visionWidth()
	h := a.Gelu(a.Conv2d(x, m.w.conv[0].w, m.w.conv[0].b, 1, 1))
	h = a.Gelu(a.Conv2d(h, m.w.conv[1].w, m.w.conv[1].b, 2, 1))
	h = a.Conv2d(h, m.w.conv[2].w, m.w.conv[2].b, 2, 1) // [B, Dv, S/4, S/4]
	h = a.Transpose(a.View(h, B, vw.d, P), 1, 2)        // [B, P, Dv]
	h = a.Add(h, m.w.vpos)
	for i := range m.w.vblocks {
		bw := &m.w.vblocks[i]
		q, k, v := m.qkv(a, bw, h, B, P, vw)
		h = m.finish(a, bw, h, q, k, v, nil, B, P, vw)
	}
	return a.LayerNorm(h, m.w.vnorm.w, m.w.vnorm.b, vw.d, m.cfg.LayerNormEps)
}

// project maps vision tokens [B, P, Dv] into the language model's width: [B, P, D].
func (m *Model) project(a *raw.Arena, h raw.Tensor) raw.Tensor {
	for i, l := range m.w.proj {
		if i > 0 {
			h = a.Gelu(h)
		}
		h = a.Linear(h, l.w, l.b)
	}
	return h
}

// prefix runs the language model over image tokens z [B, P, D] and returns every layer's keys
// and values [B, H, P, Dh] (image tokens attend to each other without a mask). The last layer's
// attention and MLP are skipped: only its keys and values are needed.
func (m *Model) prefix(a *raw.Arena, z raw.Tensor, B int64) (ks, vs []raw.Tensor) {
	P := int64(m.cfg.ImageTokens())
	lw := m.lmWidth()
	x := a.Add(z, a.Narrow(m.w.pos, 0, 0, P))
	ks = make([]raw.Tensor, len(m.w.blocks))
	vs = make([]raw.Tensor, len(m.w.blocks))
	for l := range m.w.blocks {
		bw := &m.w.blocks[l]
		q, k, v := m.qkv(a, bw, x, B, P, lw)
		ks[l], vs[l] = k, v
		if l < len(m.w.blocks)-1 {
			x = m.finish(a, bw, x, q, k, v, nil, B, P, lw)
		}
	}
	return ks, vs
}

// captions runs the language model over caption inputs ids [N, T] (int64, BOS first) after the
// image prefix given by every layer's keys and values [B, H, P, Dh], each shared by G rows.
// It returns the final normalised hidden states [N, T, D] and logits [N, T, V].
func (m *Model) captions(a *raw.Arena, ks, vs []raw.Tensor, ids raw.Tensor, N, T, G int64) (h, logits raw.Tensor) {
	P := int64(m.cfg.ImageTokens())
	lw := m.lmWidth()
	x := a.Add(a.Embedding(m.w.tok, ids), a.Narrow(m.w.pos, 0, P, T))
	mask := m.mask(a, P, T, P+T)
	self := a.Narrow(mask, 1, P, T) // [T, T]: causal among caption positions
	for l := range m.w.blocks {
		bw := &m.w.blocks[l]
		q, k, v := m.qkv(a, bw, x, N, T, lw)
		o := m.attendShared(a, q, ks[l], vs[l], k, v, self, N/G, G, T, lw)
		x = m.post(a, bw, x, o, lw)
	}
	return m.head(a, x)
}

// attendShared is the attention of caption queries q [N, H, T, Dh] over the image prefix
// kp, vp [B, H, P, Dh] (shared by the G rows of each image: one matrix product per image and
// head over all its rows' queries) and the caption keys and values k, v [N, H, T, Dh] under the
// causal mask self [T, T]. It returns the heads' outputs concatenated: [N, T, d].
func (m *Model) attendShared(a *raw.Arena, q, kp, vp, k, v, self raw.Tensor, B, G, T int64, w width) raw.Tensor {
	N, H, Dh := B*G, w.heads, w.dh()
	P := int64(m.cfg.ImageTokens())
	// toImage regroups [N, H, T, X] as [B, H, G*T, X]; toRows undoes it.
	toImage := func(x raw.Tensor, X int64) raw.Tensor {
		if G == 1 {
			return x
		}
		return a.Reshape(a.Permute(a.Reshape(x, B, G, H, T, X), 0, 2, 1, 3, 4), B, H, G*T, X)
	}
	toRows := func(x raw.Tensor, X int64) raw.Tensor {
		if G == 1 {
			return x
		}
		return a.Reshape(a.Permute(a.Reshape(x, B, H, G, T, X), 0, 2, 1, 3, 4), N, H, T, X)
	}
	q = a.MulScalar(q, 1/math.Sqrt(float64(Dh)))
	sp := toRows(a.Matmul(toImage(q, Dh), a.Transpose(kp, -2, -1)), P) // [N, H, T, P]
	ss := a.Add(a.Matmul(q, a.Transpose(k, -2, -1)), self)             // [N, H, T, T]
	p := a.Softmax(a.Cat(-1, sp, ss), -1)                              // [N, H, T, P+T]
	op := toRows(a.Matmul(toImage(a.Narrow(p, -1, 0, P), P), vp), Dh)  // [N, H, T, Dh]
	os := a.Matmul(a.Narrow(p, -1, P, T), v)                           // [N, H, T, Dh]
	return a.Reshape(a.Transpose(a.Add(op, os), 1, 2), N, T, H*Dh)
}

// head applies the final norm and the output layer to x [..., D]; PAD and BOS get logit -1e9.
func (m *Model) head(a *raw.Arena, x raw.Tensor) (h, logits raw.Tensor) {
	h = a.LayerNorm(x, m.w.norm.w, m.w.norm.b, int64(m.cfg.Dim), m.cfg.LayerNormEps)
	logits = a.Add(a.Linear(h, m.w.head.w, m.w.head.b), m.ban)
	return h, logits
}

// mask returns the additive attention mask [rows, cols] (float32) for query positions
// start..start+rows-1 over key positions 0..cols-1 of the sequence [image tokens ; captions]:
// a query sees every image token and every position up to its own.
func (m *Model) mask(a *raw.Arena, start, rows, cols int64) raw.Tensor {
	P := int64(m.cfg.ImageTokens())
	vals := make([]float32, rows*cols)
	inf := float32(math.Inf(-1))
	for i := range rows {
		for j := range cols {
			if j >= P && j > start+i {
				vals[i*cols+j] = inf
			}
		}
	}
	return a.FromFloat32(vals, rows, cols)
}

// kvCache is one layer's keys and values for sampling: the image prefix's [B, H, P, Dh], shared
// by the G rows of each image, and a preallocated cache of the caption positions
// [N, H, maxLen, Dh] written one position per step.
type kvCache struct{ kp, vp, k, v raw.Tensor }

// newCache allocates the caption caches of every layer for N = B*G rows next to the prefix
// keys and values ks, vs [B, H, P, Dh].
func (m *Model) newCache(a *raw.Arena, ks, vs []raw.Tensor, N, maxLen int64) []kvCache {
	lw := m.lmWidth()
	caches := make([]kvCache, len(ks))
	for l := range ks {
		caches[l] = kvCache{
			kp: ks[l], vp: vs[l],
			k: a.Zeros(N, lw.heads, maxLen, lw.dh()),
			v: a.Zeros(N, lw.heads, maxLen, lw.dh()),
		}
	}
	return caches
}

// step feeds one token per row, ids [N] at caption position t (BOS is position 0), through the
// cached language model: it writes the position's keys and values into the caches and returns
// the final normalised hidden states [N, 1, D] and logits [N, 1, V].
func (m *Model) step(a *raw.Arena, caches []kvCache, ids []int64, t, G int64) (h, logits raw.Tensor) {
	N := int64(len(ids))
	pos := int64(m.cfg.ImageTokens()) + t
	lw := m.lmWidth()
	x := a.Add(a.Embedding(m.w.tok, a.FromInt64(ids, N, 1)), a.Narrow(m.w.pos, 0, pos, 1))
	for l := range m.w.blocks {
		bw := &m.w.blocks[l]
		q, k, v := m.qkv(a, bw, x, N, 1, lw)
		c := caches[l]
		a.Copy(a.Narrow(c.k, 2, t, 1), k)
		a.Copy(a.Narrow(c.v, 2, t, 1), v)
		x = m.post(a, bw, x, m.attendCached(a, q, c, t, N/G, G, lw), lw)
	}
	return m.head(a, x)
}

// attendCached is the attention of one new query per row, q [N, H, 1, Dh], over the image
// prefix (shared by the G rows of an image: one small matrix product per image and head
// instead of one per row) and the caption positions 0..t of the row's cache. It returns the
// heads' outputs concatenated: [N, 1, d].
func (m *Model) attendCached(a *raw.Arena, q raw.Tensor, c kvCache, t, B, G int64, w width) raw.Tensor {
	N, H, Dh := B*G, w.heads, w.dh()
	P := int64(m.cfg.ImageTokens())
	q = a.MulScalar(q, 1/math.Sqrt(float64(Dh)))                              // [N, H, 1, Dh]
	qb := a.Permute(a.Reshape(q, B, G, H, Dh), 0, 2, 1, 3)                    // [B, H, G, Dh]
	sp := a.Matmul(qb, a.Transpose(c.kp, -2, -1))                             // [B, H, G, P]
	sp = a.Reshape(a.Permute(sp, 0, 2, 1, 3), N, H, P)                        // [N, H, P]
	ss := a.SumDim(a.Mul(q, a.Narrow(c.k, 2, 0, t+1)), -1, false)             // [N, H, t+1]
	p := a.Softmax(a.Cat(-1, sp, ss), -1)                                     // [N, H, P+t+1]
	pp := a.Permute(a.Reshape(a.Narrow(p, -1, 0, P), B, G, H, P), 0, 2, 1, 3) // [B, H, G, P]
	op := a.Permute(a.Matmul(pp, c.vp), 0, 2, 1, 3)                           // [B, G, H, Dh]
	ps := a.Unsqueeze(a.Narrow(p, -1, P, t+1), -1)                            // [N, H, t+1, 1]
	os := a.SumDim(a.Mul(ps, a.Narrow(c.v, 2, 0, t+1)), 2, false)             // [N, H, Dh]
	return a.Reshape(a.Add(a.Reshape(op, N, H, Dh), os), N, 1, H*Dh)
}

// full is the slow reference path: it runs the whole sequence [image tokens ; ids] for image
// tokens z [N, P, D] (one row per caption) and caption inputs ids [N, T] through the language
// model without any cache, and returns the hidden states and logits of the last position
// ([N, 1, D], [N, 1, V]).
func (m *Model) full(a *raw.Arena, z, ids raw.Tensor, N, T int64) (h, logits raw.Tensor) {
	P := int64(m.cfg.ImageTokens())
	lw := m.lmWidth()
	L := P + T
	x := a.Cat(1, z, a.Embedding(m.w.tok, ids))
	x = a.Add(x, a.Narrow(m.w.pos, 0, 0, L))
	mask := m.mask(a, 0, L, L)
	for l := range m.w.blocks {
		bw := &m.w.blocks[l]
		q, k, v := m.qkv(a, bw, x, N, L, lw)
		x = m.finish(a, bw, x, q, k, v, mask, N, L, lw)
	}
	return m.head(a, a.Narrow(x, 1, L-1, 1))
}
