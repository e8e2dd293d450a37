package qwenvl

import (
	"fmt"
	"strings"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// visionTower is Qwen2.5-VL's vision tower: a linear patch embedding (the Conv3d whose kernel is
// its stride), blocks of pre-RMSNorm attention with 2-D rotary positions (in windows of
// window_size pixels, or over the whole image in fullatt_block_indexes) and a gated SiLU MLP,
// then the patch merger (RMSNorm, merge^2 neighbouring patches concatenated, a GELU MLP).
type visionTower struct {
	cfg    VisionConfig
	kind   raw.Kind
	patch  raw.Tensor // [Dv, C*T*P*P]
	blocks []visionBlock
	lnQ    raw.Tensor            // [Dv]
	mlp0   hf.Linear             // [Dv*merge^2, Dv*merge^2]
	mlp2   hf.Linear             // [OutD, Dv*merge^2]
	names  []string              // load order
	named  map[string]raw.Tensor // the weights as loaded, by name
}

type visionBlock struct {
	norm1, norm2   raw.Tensor
	qkv, proj      hf.Linear
	gate, up, down hf.Linear
	full           bool // attention over the whole image, not in windows
}

// visionEps is the vision tower's RMSNorm epsilon (fixed in transformers' code).
const visionEps = 1e-6

// load reads the vision tensors (names visual.*) into arena w; every tensor of ws must be read.
func (v *visionTower) load(ws *hf.Weights, c VisionConfig, w *raw.Arena, kind raw.Kind) error {
	v.cfg, v.kind, v.named = c, kind, map[string]raw.Tensor{}
	D, F, C := int64(c.D), int64(c.F), int64(c.Channels)
	T, P, U := int64(c.TemporalPatch), int64(c.Patch), int64(c.D*c.Merge*c.Merge)
	seen := map[string]bool{}
	var err error
	get := func(name string, shape ...int64) raw.Tensor {
		if err != nil {
			return nil
		}
		var t raw.Tensor
		if t, err = ws.Load(w, name, kind, shape...); err == nil {
			seen[name] = true
			v.names = append(v.names, name)
			v.named[name] = t
		}
		return t
	}
	lin := func(name string, out, in int64) hf.Linear {
		return hf.Linear{W: get(name+".weight", out, in), B: get(name+".bias", out)}
	}
	if p := get("visual.patch_embed.proj.weight", D, C, T, P, P); p != nil {
		v.patch = w.View(p, D, C*T*P*P)
	}
	full := map[int]bool{}
	for _, i := range c.FullAtt {
		full[i] = true
	}
	for i := range c.Depth {
		p := fmt.Sprintf("visual.blocks.%d.", i)
		v.blocks = append(v.blocks, visionBlock{
			norm1: get(p+"norm1.weight", D),
			qkv:   lin(p+"attn.qkv", 3*D, D),
			proj:  lin(p+"attn.proj", D, D),
			norm2: get(p+"norm2.weight", D),
			gate:  lin(p+"mlp.gate_proj", F, D),
			up:    lin(p+"mlp.up_proj", F, D),
			down:  lin(p+"mlp.down_proj", D, F),
			full:  full[i],
		})
	}
	v.lnQ = get("visual.merger.ln_q.weight", D)
	v.mlp0 = lin("visual.merger.mlp.0", U, U)
	v.mlp2 = lin("visual.merger.mlp.2", int64(c.OutD), U)
	if err != nil {
		return err
	}
	var extra []string
	for _, n := range ws.Names() {
		if !seen[n] {
			extra = append(extra, n)
		}
	}
	if len(extra) > 0 {
		return fmt.Errorf("hf: %d vision tensors of the folder are not part of a Qwen2.5-VL vision tower of this config: %s", len(extra), strings.Join(extra[:min(5, len(extra))], ", "))
	}
	return w.Err()
}

// encode runs the tower on pixel rows [N, C*T*P*P] (the processor's layout) of the images of
// grids and returns their merged features [M, OutD] in the original order of the merged tokens.
func (v *visionTower) encode(a *raw.Arena, pixels raw.Tensor, grids [][3]int) (raw.Tensor, error) {
	c := v.cfg
	L, err := v.layout(grids)
	if err != nil {
		return nil, err
	}
	sh := a.Shape(pixels)
	if sh == nil {
		return nil, a.Err()
	}
	row := int64(c.Channels * c.TemporalPatch * c.Patch * c.Patch)
	if len(sh) != 2 || sh[0] != int64(L.N) || sh[1] != row {
		return nil, fmt.Errorf("hf: pixel values of shape %v for grids %v: want [%d, %d]", sh, grids, L.N, row)
	}
	N, D, H := int64(L.N), int64(c.D), int64(c.H)
	Dh := D / H
	x := a.Linear(a.To(pixels, v.kind), v.patch, nil) // [N, D]
	x = a.Embedding(x, a.FromInt64(L.order, N))       // window order
	cos := a.To(a.FromFloat32(L.cos, 1, 1, N, Dh), v.kind)
	sin := a.To(a.FromFloat32(L.sin, 1, 1, N, Dh), v.kind)
	for i := range v.blocks {
		b := &v.blocks[i]
		segs := L.windows
		if b.full {
			segs = L.frames
		}
		h := hf.RMSNorm(a, x, b.norm1, visionEps, v.kind)
		qkv := a.Permute(a.View(a.Linear(h, b.qkv.W, b.qkv.B), N, 3, H, Dh), 1, 2, 0, 3) // [3, H, N, Dh]
		q := hf.Rope(a, a.Unsqueeze(a.Select(qkv, 0, 0), 0), cos, sin)
		k := hf.Rope(a, a.Unsqueeze(a.Select(qkv, 0, 1), 0), cos, sin)
		val := a.Unsqueeze(a.Select(qkv, 0, 2), 0)
		outs := make([]raw.Tensor, 0, len(segs)-1)
		for s := 1; s < len(segs); s++ {
			lo, n := int64(segs[s-1]), int64(segs[s]-segs[s-1])
			outs = append(outs, hf.Attend(a, a.Narrow(q, 2, lo, n), a.Narrow(k, 2, lo, n), a.Narrow(val, 2, lo, n), nil, v.kind, Dh))
		}
		o := outs[0]
		if len(outs) > 1 {
			o = a.Cat(2, outs...)
		}
		o = a.Reshape(a.Transpose(a.Select(o, 0, 0), 0, 1), N, D) // [N, D]
		x = a.Add(x, a.Linear(o, b.proj.W, b.proj.B))
		h = hf.RMSNorm(a, x, b.norm2, visionEps, v.kind)
		mlp := a.Mul(a.Silu(a.Linear(h, b.gate.W, b.gate.B)), a.Linear(h, b.up.W, b.up.B))
		x = a.Add(x, a.Linear(mlp, b.down.W, b.down.B))
	}
	unit := int64(c.Merge * c.Merge)
	h := a.Reshape(hf.RMSNorm(a, x, v.lnQ, visionEps, v.kind), N/unit, unit*D)
	h = a.Linear(a.Gelu(a.Linear(h, v.mlp0.W, v.mlp0.B)), v.mlp2.W, v.mlp2.B) // [M, OutD]
	h = a.Embedding(h, a.FromInt64(L.inverse, N/unit))                        // original order
	return h, a.Err()
}
