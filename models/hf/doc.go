// Package hf is the shared core of the Hugging Face model families, which run in Go on libtorch
// from Hugging Face model folders: reading a folder (config.json, LMConfig; safetensors weights,
// single or sharded, Weights; preprocessor_config.json, PreprocessorConfig) and writing one
// (SaveFolder); the building blocks every family's forward pass is made of (Linear, Attend,
// Activation, RMSNorm, LayerNorm, Rope, RotaryTables); the Llama/Qwen2 decoder stack that the
// causal LMs, Qwen2.5-VL and Janus all run (Decoder, Batch) with its cached decoding step
// (Stepper), the sampler and the teacher-forced scores of their policies (Sampler,
// CaptionScores); the vision transformer body of the vision encoders and Janus's understanding
// tower (Encoder); Pillow's resize, which every image processor uses (PILResize); and the
// families' chat formats (ChatPrompt, ImageChatPrompt, ChatEnd), checked against the families'
// own chat templates.
//
// The families are packages of their own, which import this core and never one another:
// models/hf/lm (Llama, Qwen2 and their text policy), models/hf/qwenvl (Qwen2.5-VL),
// models/hf/vit (CLIP, DINOv2, SigLIP) and models/hf/janus (Janus, Janus-Pro). The
// tokenizer.json reader is models/hf/tokenizer. Each family is checked against transformers'
// own outputs on tiny random checkpoints in the exact Hugging Face layout (testdata/transformers,
// made by scripts/oracles/hf-fixtures.py); Janus, until a GPU host has run that script's Janus
// entry, against a PyTorch 1.13 reference written from transformers' modeling_janus.py
// (testdata/janus and janus_vq, scripts/oracles/janus.py). This package's own tests check the
// decoder's cache on the llama fixture, the resize against Pillow, and the preprocessor reader.
//
// Shapes, used as names throughout: B rows (sequences) in a batch, T positions, D model width,
// H attention heads, KV key/value heads (grouped-query attention: H/KV query heads share one),
// Dh head width, F MLP width, V vocabulary size.
//
// Threads: as for every libtorch model of the project, all work on a model happens on one
// goroutine locked to its OS thread; a model is not safe for concurrent use.
package hf
