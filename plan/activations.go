package plan

import (
	"fmt"

	"github.com/unigrpo/unigrpo/models/hf/shape"
)

// Formulas says how the estimated rows are made, for the help and the docs. e is the bytes of
// the run's dtype, e' = e when it is narrower than float32 and 0 otherwise (the float32 copies
// then alias), D the hidden size, F the MLP width, Hq = heads x head_dim, Hkv = kv_heads x
// head_dim, H the heads, L the layers, V the vocabulary, S = prompt + image + caption tokens, T the
// caption tokens, M the micro-batch's sequences, R the rollout batch's.
const Formulas = `activations of one micro-batch (what autograd keeps for the backward, from
models/hf/decoder_forward.go, norm.go, ops.go, rotary.go, scores.go):
  per token and layer  a = 2(4+2e)D + 8 + e(6Hq + 2Hkv) + 4eF
                           (two RMSNorms: float32 input, normalised and scaled outputs; q before
                           and after rotary and its rotated half; k the same at kv width plus its
                           copy repeated to all heads; v repeated; attention output; SwiGLU's four)
  per sequence and layer   (4 + e')H S^2   (float32 softmax, and its copy in the dtype)
  per sequence, the head   (4+2e)D S + 4 T V   (final norm; float32 log-softmax of the caption)
  at the end of the forward, freed after: S V (e + 4[e<4]) + 4 T V + L S e' D per sequence
                           (logits in the dtype and in float32, the scaled caption logits, the
                           layer outputs the forward returns)
  plain:        M [L S a + L (4+e')H S^2 + (4+2e)D S + 4 T V] + transient
  checkpointed: M [L S e D + S a + (4+e')H S^2 + (4+2e)D S + 4 T V] + transient
                (each layer's input is kept, one layer's activations are recomputed at a time)
  Not counted: the frozen vision tower's forward (no graph; freed as it goes) and the backward's
  own temporaries (about one layer's worth).
prefill attention: I H P^2 (2e + 12) for the I images of a rollout batch (the prompt is prefilled
  once per image, its cache expanded to the image's rows; Janus prefills every row, I = R) and the
  prompt's P = prompt + image tokens, one layer at a
  time (scores in the dtype and float32, the mask added, softmax, its copy in the dtype).
KV cache (counted): L x 2 x R x (S-1) x kv_heads x head_dim x e (the caption's last token is
  sampled, never fed), allocated once for its capacity and written in place (models/hf/kvcache.go).
CUDA runtime: a fixed 1 GiB (context, cuBLAS workspace, NCCL buffers, allocator slack).`

// kvCache is the rollout's key/value cache at its longest: every layer's keys and values of R
// rows of S cached positions at kv-head width (models/hf/kvcache.go).
func kvCache(t shape.Decoder, R int, S, e int64) int64 {
	return int64(t.Layers) * 2 * int64(R) * S * int64(t.KV) * int64(t.Dh) * e
}

// prefill is one layer's attention over the prompt in the rollout's first step.
func prefill(t shape.Decoder, d derived) int64 {
	P := int64(d.prompt + d.image)
	return int64(d.prefill) * int64(t.H) * P * P * (2*d.e + 12)
}

// activations is the update's activation memory for one micro-batch (Formulas).
func activations(t shape.Decoder, d derived, checkpointed bool) int64 {
	e := d.e
	narrow := int64(0) // e' in Formulas
	if e < 4 {
		narrow = e
	}
	D, F, H, L := int64(t.D), int64(t.F), int64(t.H), int64(t.Layers)
	Hq, Hkv := int64(t.H*t.Dh), int64(t.KV*t.Dh)
	S, T, V, M := d.seq, d.seq-int64(d.prompt+d.image), int64(t.Vocab), int64(d.micro)
	perTok := 2*(4+2*e)*D + 8 + e*(6*Hq+2*Hkv) + 4*e*F
	attn := (4 + narrow) * H * S * S
	head := (4+2*e)*D*S + 4*T*V
	f32 := int64(0)
	if e < 4 {
		f32 = 4
	}
	transient := M * (S*V*(e+f32) + 4*T*V + L*S*narrow*D)
	if checkpointed {
		return M*(L*S*e*D+S*perTok+attn+head) + transient
	}
	return M*(L*S*perTok+L*attn+head) + transient
}

// activationHow says what the activation row counts.
func activationHow(d derived, checkpointed bool) string {
	how := fmt.Sprintf("%d sequences of %d tokens, every layer's saved tensors", d.micro, d.seq)
	if checkpointed {
		how = fmt.Sprintf("%d sequences of %d tokens, checkpointed: the layers' inputs and one layer's activations", d.micro, d.seq)
	}
	return how + " (Formulas)"
}
