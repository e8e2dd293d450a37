// Package janus runs Janus and Janus-Pro (transformers' JanusForConditionalGeneration), the
// paper's unified model UMM-2, from a Hugging Face model folder in Go on libtorch: one Llama
// decoder (models/hf's Decoder) reads and writes both text and images. Understanding: a
// SigLIP-style tower (models/hf's Encoder) and an aligner turn an image into features in place
// of its <image_placeholder> tokens (ImageFeatures, GenerateText). Generation: a VQ-VAE
// tokenizer's codes, predicted by the generation head with classifier-free guidance
// (GenerateImageCodes) and decoded to pixels (DecodeCodes). Policy is the model as the
// trainer's policy and as its own decoder (captions and answers, drawing, teacher-forced
// losses of both directions, the tokenizer's own training); WriteRandom draws a new model as
// transformers' _init_weights does.
//
// Oracle of the tests: a PyTorch 1.13 reference written from transformers' modeling_janus.py
// (scripts/oracles/janus.py and janus-vq.py with scripts/oracles/janusref): its tiny random
// Janus and VQ-VAE and their outputs in models/hf/testdata/janus and janus_vq; transformers'
// own outputs (models/hf/testdata/transformers/janus) as well, once a GPU host has made them.
// The policy tests compare the model's two code paths (cached sampling and teacher forcing).
//
// Threads: as for every libtorch model of the project, all work on a model happens on one
// goroutine locked to its OS thread; a model is not safe for concurrent use.
package janus
