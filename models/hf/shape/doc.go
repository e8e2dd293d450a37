// Package shape reads what a Hugging Face model folder's config.json (and, for the image token
// count, preprocessor_config.json) says of the model's tensors, for the policy families this
// project loads: llama and qwen2 (models/hf/lm), qwen2_5_vl (models/hf/qwenvl) and janus
// (models/hf/janus). It lists every tensor the family's loader reads, with its shape, its part
// (language model, vision tower, aligner, generation head, VQ-VAE) and whether the loader keeps it
// in float32 whatever the run's dtype, and the decoder's sizes that set the key/value cache and
// the activations. `trainer plan` sizes a run from it before a single weight is read (package
// plan).
//
// Why a package of its own: models/hf and its families import gotch (libtorch), and reading a
// config must not need libtorch. The loaders' tensor lists are repeated here rather than shared,
// because sharing would move the loaders' config types out of packages other engineers own; the
// tests of this package load every fixture with the project's loaders and compare the two lists
// tensor by tensor (name, shape, dtype), so they cannot drift apart unnoticed.
package shape
