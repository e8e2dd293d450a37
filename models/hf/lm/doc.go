// Package lm runs the Llama and Qwen2 causal language models of Hugging Face model folders in Go
// on libtorch: Model (Load) with greedy generation (Generate), and TextPolicy, such a model as
// the trainer's captioning policy with a text-only prompt (it does not see the image: it trains
// and times an LM's GRPO). The decoder itself, which Qwen2.5-VL and Janus share, is models/hf's
// Decoder.
//
// Oracle of the tests: transformers 5.17, on the tiny random llama and qwen2 checkpoints of
// models/hf/testdata/transformers with transformers' hidden states, logits and generate()
// tokens; the policy's own two paths (cached sampling and teacher forcing) must agree.
//
// Threads: as for every libtorch model of the project, all work on a model happens on one
// goroutine locked to its OS thread; a model is not safe for concurrent use.
package lm
