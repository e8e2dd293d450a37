// Package hf loads Hugging Face model folders (config.json, safetensors weights, single or
// sharded) and runs their families in Go on libtorch: the Llama and Qwen2 causal language models
// (lm.go, generate.go; as a text-prompted policy in policy.go) and the vision encoders CLIP,
// DINOv2 and SigLIP with their image processors (vit*.go; embedders for the reward and
// Unified-Bench), Qwen2.5-VL (qwenvl*.go) and Janus / Janus-Pro, the unified model that both
// reads and draws images (janus*.go; as a policy and its own decoder in janus_policy.go,
// janus_train.go, janus_vqtrain.go). The tokenizer.json reader is the subpackage tokenizer.
// Each family is checked against transformers' own outputs on tiny random checkpoints in the
// exact Hugging Face layout (testdata/transformers, made by scripts/oracles/hf-fixtures.py); Janus, until
// a GPU host has run that script's Janus entry, against a PyTorch 1.13 reference written from
// transformers' modeling_janus.py (testdata/janus and janus_vq, scripts/oracles/janus.py).
//
// Shapes, used as names throughout: B rows (sequences) in a batch, T positions, D model width,
// H attention heads, KV key/value heads (grouped-query attention: H/KV query heads share one),
// Dh head width, F MLP width, V vocabulary size.
//
// Threads: as for every libtorch model of the project, all work on a model happens on one
// goroutine locked to its OS thread; a model is not safe for concurrent use.
package hf
