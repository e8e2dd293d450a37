// Package vit runs the vision encoders CLIP (its vision tower), DINOv2 and SigLIP (its vision
// tower) of Hugging Face model folders in Go on libtorch, with their PIL image processors
// (preprocessor_config.json): Model (Load) gives transformers' hidden states and pooled
// outputs, and embeds images for the reward and Unified-Bench (Embed, EmbedBatch, EmbedImages;
// Planar for float images, as world/embed's Embedder). The encoder body is models/hf's Encoder,
// which Janus's understanding tower shares; the pooling heads and the processors are here.
//
// Oracle of the tests: transformers 5.17, on the tiny random checkpoints of
// models/hf/testdata/transformers (clip_vision, dinov2, siglip_vision) with transformers' own
// outputs and pixel_values; Pillow (/usr/bin/python3) for the resize, in models/hf's tests.
//
// Threads: as for every libtorch model of the project, all work on a model happens on one
// goroutine locked to its OS thread; a Model is not safe for concurrent use.
package vit
