// Package unified is the paper's UMM-2 in the synthetic world: one model, in the Janus layout
// (models/hf/janus), that captions images, answers questions about them and draws images from
// captions, trained from scratch at a tiny size by the same code that loads a Janus-Pro folder.
//
// Its text vocabulary is the world's question-answer vocabulary plus markers of images and
// tasks (tokens.go); its image tokenizer is Janus's VQ-VAE, trained on the world's renders
// (StageVQ); the supervised stage teaches the three tasks (data.go, StageModel); in
// Unified-GRPO it is its own decoder (decode.go): each caption it samples is redrawn by its
// generation direction and scored by the world's embedders against the source, so the reward
// follows the weights being trained. Its probes (probe.go) measure the understanding and
// generation the paper's Table 1 reports: visual-question accuracy, on small objects too, and
// the share of asked attributes its drawings of the world's prompts show.
package unified
