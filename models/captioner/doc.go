// Package captioner is the captioner of the auto-encoder: an autoregressive vision-language model
// written with gotch (libtorch) that describes a world.Image in caption tokens.
//
// Architecture: a convolutional stem (3x3 convolutions, two of stride 2, so a few-pixel object
// still lands in a token) and a small bidirectional transformer encode the image into P image
// tokens; a projector maps them into the language model's width; a causal decoder-only
// transformer reads [image tokens ; BOS ; caption tokens] and predicts the next caption token.
// The image tokens attend to each other freely (a prefix), caption tokens attend to the image
// tokens and to earlier caption tokens. All blocks are pre-norm (LayerNorm, multi-head
// attention from matmul and an additive mask, GELU MLP); positions are learned.
//
// Shapes, used as variable names throughout the package:
//
//	B  images in a batch
//	G  samples (captions) per image; rows are ordered image-major: row r = b*G + g
//	N  rows = B*G
//	T  caption tokens (positions of a padded caption batch)
//	P  image tokens (ImageTokens of the Config: (ImageSize/4)^2)
//	C  image channels
//	S  image side (ImageSize)
//	D  language model width; Dv vision width; H heads; Dh = D/H head width
//	V  vocabulary size
//
// The image prefix is computed once per image (vision encoder, projector and the language
// model's keys and values of the image tokens) and shared by the image's G captions, both when
// sampling (a preallocated key/value cache of N rows) and when scoring captions.
//
// Speed: the forward passes and the sampling loop call libtorch through gotch's C layer on raw
// tensor handles owned by a per-step arena (package models/internal/raw), not through gotch's
// ts.Tensor, which costs tens of microseconds per operation. Only the few tensors a caller keeps
// (a loss, per-token log-probabilities) are returned as ts.Tensor; the caller frees them.
//
// Threads: libtorch keeps grad mode and its error slot per OS thread. All work on a Model, and on
// every Model of a process, must happen on one goroutine locked to its OS thread
// (runtime.LockOSThread); the caller (the trainer) does the locking. A Model is not safe for
// concurrent use.
package captioner
