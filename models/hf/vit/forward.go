package vit

import (
	"fmt"
	"math"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// acts are the outputs of a forward pass, owned by its arena.
type acts struct {
	hidden []raw.Tensor // Layers+1 tensors [B, T, D]
	last   raw.Tensor   // [B, T, D]
	pooled raw.Tensor   // [B, D]
	embeds raw.Tensor   // [B, Proj]: CLIP with visual_projection only
}

// forward runs pixels px [B, C, S, S] (float32, on the arena's device) through the model in
// arena a: the encoder's hidden states (hf.Encoder.Forward), then the family's final norm and
// pooling.
func (v *Model) forward(a *raw.Arena, px raw.Tensor, B, S int64) acts {
	hidden := v.enc.Forward(a, px, B, S)
	out := v.pooling(a, hidden[len(hidden)-1], B, S)
	out.hidden = hidden
	return out
}

// pooling is the family's final norm and pooling of the last layer's output x [B, T, D] for
// images of side S; its hidden field is left empty.
func (v *Model) pooling(a *raw.Arena, x raw.Tensor, B, S int64) acts {
	var out acts
	T := v.enc.Tokens(S / int64(v.cfg.Patch))
	switch v.cfg.ModelType {
	case "clip_vision_model":
		out.last = x
		out.pooled = v.enc.Norm(a, a.Select(x, 1, 0), *v.postNorm)
		if v.proj != nil {
			out.embeds = a.Linear(out.pooled, v.proj, nil)
		}
	case "dinov2":
		out.last = v.enc.Norm(a, x, *v.postNorm)
		out.pooled = a.Select(out.last, 1, 0)
	case "siglip_vision_model":
		out.last = v.enc.Norm(a, x, *v.postNorm)
		out.pooled = v.pool(a, out.last, B, T)
	}
	return out
}

// pool is SigLIP's head: the probe attends over the tokens x [B, T, D], then
// y + mlp(layernorm(y)); the result [B, D].
func (v *Model) pool(a *raw.Arena, x raw.Tensor, B, T int64) raw.Tensor {
	h := v.head
	D := int64(v.cfg.D)
	y := v.enc.Attention(a, a.Expand(h.probe, B, 1, D), x, h.q, h.k, h.v, h.o, B, 1, T)
	y = a.Add(y, v.enc.MLP(a, v.enc.Norm(a, y, h.ln), h.fc1, h.fc2))
	return a.Select(y, 1, 0)
}

// Output is a forward pass's result in float32, row-major.
type Output struct {
	B, T, D int
	// Hidden holds Layers+1 tensors [B, T, D]: what the first layer reads (CLIP: after
	// pre_layrnorm; DINOv2 and SigLIP: the embeddings), then the output of each layer, as
	// transformers' hidden_states.
	Hidden [][]float32
	Last   []float32 // last_hidden_state [B, T, D] (DINOv2 and SigLIP: after the final norm)
	Pooled []float32 // pooler_output [B, D]
	Embeds []float32 // CLIP's image_embeds [B, Proj]; nil for the other families
}

// Forward runs B images of preprocessed pixels [B, C, S, S] (float32, channel-major, as
// transformers' pixel_values) through the model. S must be the config's image_size, or for
// DINOv2 any multiple of patch_size (its position embeddings are then interpolated).
func (v *Model) Forward(pixels []float32, B int) (*Output, error) {
	a := raw.New(v.dev.CInt())
	defer a.Free()
	px, S, err := v.pixels(a, pixels, B)
	if err != nil {
		return nil, err
	}
	acts := v.forward(a, px, int64(B), S)
	if err := a.Err(); err != nil {
		return nil, fmt.Errorf("hf: vision forward: %w", err)
	}
	T := int(v.enc.Tokens(S / int64(v.cfg.Patch)))
	out := &Output{B: B, T: T, D: v.cfg.D}
	for _, h := range acts.hidden {
		out.Hidden = append(out.Hidden, v.values(a, h, B*T*v.cfg.D))
	}
	out.Last = v.values(a, acts.last, B*T*v.cfg.D)
	out.Pooled = v.values(a, acts.pooled, B*v.cfg.D)
	if acts.embeds != nil {
		out.Embeds = v.values(a, acts.embeds, B*v.cfg.Proj)
	}
	if err := a.Err(); err != nil {
		return nil, fmt.Errorf("hf: vision forward: %w", err)
	}
	return out, nil
}

// pixels checks a batch of pixel values and puts it on the device: [B, C, S, S] float32.
func (v *Model) pixels(a *raw.Arena, pixels []float32, B int) (raw.Tensor, int64, error) {
	C := v.cfg.Channels
	if B < 1 || len(pixels) == 0 || len(pixels)%(B*C) != 0 {
		return nil, 0, fmt.Errorf("hf: %d pixel values are not %d images of %d channels", len(pixels), B, C)
	}
	n := len(pixels) / (B * C)
	S := int(math.Round(math.Sqrt(float64(n))))
	switch {
	case S*S != n:
		return nil, 0, fmt.Errorf("hf: %d values per channel are not a square image (only square inputs are implemented)", n)
	case S%v.cfg.Patch != 0:
		return nil, 0, fmt.Errorf("hf: images of side %d are not a whole number of %d-pixel patches", S, v.cfg.Patch)
	case v.cfg.ModelType != "dinov2" && S != v.cfg.ImageSize:
		return nil, 0, fmt.Errorf("hf: images of side %d, but %s reads %d", S, v.cfg.ModelType, v.cfg.ImageSize)
	}
	return a.FromFloat32(pixels, int64(B), int64(C), int64(S), int64(S)), int64(S), nil
}

// values copies a tensor of n values into a new []float32.
func (v *Model) values(a *raw.Arena, x raw.Tensor, n int) []float32 {
	out := make([]float32, n)
	a.CopyToFloat32(a.To(x, raw.Float32), out)
	return out
}
