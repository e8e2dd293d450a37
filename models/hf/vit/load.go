package vit

import (
	"fmt"
	"slices"
	"strings"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// loader reads a vision model's tensors into its arena, keeping the first error: after one,
// every read returns nil.
type loader struct {
	v   *Model
	ws  *hf.Weights
	dir string
	err error
}

func (l *loader) get(name string, kind raw.Kind, shape ...int64) raw.Tensor {
	if l.err != nil {
		return nil
	}
	t, err := l.ws.Load(l.v.w, name, kind, shape...)
	if l.err = err; err == nil {
		l.v.names[name] = true
	}
	return t
}

// expect checks a tensor that is part of the checkpoint but not used here.
func (l *loader) expect(name string, shape ...int64) {
	if l.err != nil {
		return
	}
	got, ok := l.ws.Shape(name)
	switch {
	case !ok:
		l.err = fmt.Errorf("hf: %s has no tensor %s", l.dir, name)
	case !slices.Equal(got, shape):
		l.err = fmt.Errorf("hf: tensor %s has shape %v, but config.json implies %v", name, got, shape)
	default:
		l.v.names[name] = true
	}
}

// view and narrow make views of loaded weights.
func (l *loader) view(t raw.Tensor, shape ...int64) raw.Tensor {
	if l.err != nil {
		return nil
	}
	t = l.v.w.View(t, shape...)
	l.err = l.v.w.Err()
	return t
}

func (l *loader) narrow(t raw.Tensor, dim, start, n int64) raw.Tensor {
	if l.err != nil {
		return nil
	}
	t = l.v.w.Narrow(t, dim, start, n)
	l.err = l.v.w.Err()
	return t
}

func (l *loader) lin(name string, out, in int64, bias bool) hf.Linear {
	lin := hf.Linear{W: l.get(name+".weight", l.v.kind, out, in)}
	if bias {
		lin.B = l.get(name+".bias", l.v.kind, out)
	}
	return lin
}

func (l *loader) norm(name string) hf.LayerNorm {
	D := int64(l.v.cfg.D)
	return hf.LayerNorm{W: l.get(name+".weight", raw.Float32, D), B: l.get(name+".bias", raw.Float32, D)}
}

// prefix finds where the vision tower's tensors live in the folder: transformers writes CLIP's
// (and older SigLIP's) under vision_model., a DINOv2 classification model's under dinov2.
func (v *Model) prefix(ws *hf.Weights) (string, error) {
	probe := "embeddings.patch_embedding.weight"
	cands := []string{"vision_model.", ""}
	if v.cfg.ModelType == "dinov2" {
		probe, cands = "embeddings.patch_embeddings.projection.weight", []string{"", "dinov2."}
	}
	for _, p := range cands {
		if _, ok := ws.Shape(p + probe); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("hf: %s has no tensor %s (under %s): not a %s checkpoint", ws.Dir(), probe, strings.Join(quoted(cands), " or "), v.cfg.ModelType)
}

func quoted(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

// load reads the tensors of the folder dir (ws): the family's, each with the shape config.json
// implies, and no other but those the folder may hold unread (checkExtra).
func (v *Model) load(ws *hf.Weights, dir string) error {
	p, err := v.prefix(ws)
	if err != nil {
		return err
	}
	l := &loader{v: v, ws: ws, dir: dir}
	switch v.cfg.ModelType {
	case "clip_vision_model", "siglip_vision_model":
		l.loadCLIPSigLIP(p)
	case "dinov2":
		l.loadDINOv2(p)
	}
	if l.err != nil {
		return l.err
	}
	return v.checkExtra(ws, dir, p)
}

// loadCLIPSigLIP reads a CLIP or SigLIP vision tower under prefix p.
func (l *loader) loadCLIPSigLIP(p string) {
	v, c := l.v, l.v.cfg
	D, F, C, P := int64(c.D), int64(c.F), int64(c.Channels), int64(c.Patch)
	G := int64(c.Grid())
	clip := c.ModelType == "clip_vision_model"
	e := p + "embeddings."
	v.enc.PatchW = l.get(e+"patch_embedding.weight", raw.Float32, D, C, P, P)
	T := G * G
	if clip {
		T++
		v.enc.Cls = l.view(l.get(e+"class_embedding", v.kind, D), 1, 1, D)
	} else {
		v.enc.PatchB = l.get(e+"patch_embedding.bias", raw.Float32, D)
	}
	v.enc.Pos = l.view(l.get(e+"position_embedding.weight", v.kind, T, D), 1, T, D)
	if clip {
		pn := l.norm(p + "pre_layrnorm")
		v.enc.PreNorm = &pn
	}
	for i := 0; i < c.Layers; i++ {
		n := fmt.Sprintf("%sencoder.layers.%d.", p, i)
		v.enc.Layers = append(v.enc.Layers, hf.EncoderLayer{
			LN1: l.norm(n + "layer_norm1"),
			Q:   l.lin(n+"self_attn.q_proj", D, D, true),
			K:   l.lin(n+"self_attn.k_proj", D, D, true),
			V:   l.lin(n+"self_attn.v_proj", D, D, true),
			O:   l.lin(n+"self_attn.out_proj", D, D, true),
			LN2: l.norm(n + "layer_norm2"),
			FC1: l.lin(n+"mlp.fc1", F, D, true),
			FC2: l.lin(n+"mlp.fc2", D, F, true),
		})
	}
	pn := l.norm(p + "post_layernorm")
	v.postNorm = &pn
	if clip {
		if _, ok := l.ws.Shape("visual_projection.weight"); ok || c.outer == "clip" {
			v.proj = l.get("visual_projection.weight", v.kind, int64(c.Proj), D)
		}
	} else {
		v.head = l.loadHead(p + "head.")
	}
}

// loadHead reads SigLIP's attention-pooling head under prefix h.
func (l *loader) loadHead(h string) *poolingHead {
	v, c := l.v, l.v.cfg
	D, F := int64(c.D), int64(c.F)
	in := l.get(h+"attention.in_proj_weight", v.kind, 3*D, D)
	inB := l.get(h+"attention.in_proj_bias", v.kind, 3*D)
	part := func(i int64) hf.Linear {
		return hf.Linear{W: l.narrow(in, 0, i*D, D), B: l.narrow(inB, 0, i*D, D)}
	}
	return &poolingHead{
		probe: l.get(h+"probe", v.kind, 1, 1, D),
		q:     part(0), k: part(1), v: part(2),
		o:   l.lin(h+"attention.out_proj", D, D, true),
		ln:  l.norm(h + "layernorm"),
		fc1: l.lin(h+"mlp.fc1", F, D, true),
		fc2: l.lin(h+"mlp.fc2", D, F, true),
	}
}

// loadDINOv2 reads a DINOv2 model under prefix p.
func (l *loader) loadDINOv2(p string) {
	v, c := l.v, l.v.cfg
	D, F, C, P := int64(c.D), int64(c.F), int64(c.Channels), int64(c.Patch)
	G := int64(c.Grid())
	e := p + "embeddings."
	v.enc.PatchW = l.get(e+"patch_embeddings.projection.weight", raw.Float32, D, C, P, P)
	v.enc.PatchB = l.get(e+"patch_embeddings.projection.bias", raw.Float32, D)
	v.enc.Cls = l.get(e+"cls_token", v.kind, 1, 1, D)
	if c.MaskToken {
		l.expect(e+"mask_token", 1, D) // replaces masked patches in pre-training only
	}
	v.enc.Pos = l.get(e+"position_embeddings", v.kind, 1, G*G+1, D)
	for i := 0; i < c.Layers; i++ {
		n := fmt.Sprintf("%sencoder.layer.%d.", p, i)
		v.enc.Layers = append(v.enc.Layers, hf.EncoderLayer{
			LN1: l.norm(n + "norm1"),
			Q:   l.lin(n+"attention.attention.query", D, D, c.QKVBias),
			K:   l.lin(n+"attention.attention.key", D, D, c.QKVBias),
			V:   l.lin(n+"attention.attention.value", D, D, c.QKVBias),
			O:   l.lin(n+"attention.output.dense", D, D, true),
			LS1: l.get(n+"layer_scale1.lambda1", v.kind, D),
			LN2: l.norm(n + "norm2"),
			FC1: l.lin(n+"mlp.fc1", F, D, true),
			FC2: l.lin(n+"mlp.fc2", D, F, true),
			LS2: l.get(n+"layer_scale2.lambda1", v.kind, D),
		})
	}
	pn := l.norm(p + "layernorm")
	v.postNorm = &pn
}

// checkExtra refuses the tensors of the folder that are not the vision tower's, but for the
// text tower of a full CLIP or SigLIP folder and a DINOv2 classifier, accepted unread.
func (v *Model) checkExtra(ws *hf.Weights, dir, p string) error {
	c := v.cfg
	other := func(n string) bool {
		switch {
		case c.outer != "" && (strings.HasPrefix(n, "text_model.") || strings.HasPrefix(n, "text_projection.") || n == "logit_scale" || n == "logit_bias"):
			return true
		case c.ModelType == "dinov2" && p == "dinov2." && strings.HasPrefix(n, "classifier."):
			return true
		}
		return false
	}
	var extra []string
	for _, n := range ws.Names() {
		if !v.names[n] && !other(n) {
			extra = append(extra, n)
		}
	}
	if len(extra) > 0 {
		return fmt.Errorf("hf: %d tensors of %s are not part of a %s model of this config: %s", len(extra), dir, c.ModelType, strings.Join(extra[:min(5, len(extra))], ", "))
	}
	return v.w.Err()
}
