// Package qwenvl runs Qwen2.5-VL (Qwen2_5_VLForConditionalGeneration), the paper's captioner,
// from a Hugging Face model folder in Go on libtorch: the windowed vision tower and its patch
// merger, whose features replace the <|image_pad|> embeddings of the core's Qwen2 decoder
// (models/hf's Decoder) with multimodal rotary positions (M-RoPE, RopeIndex); the image
// processor (smart_resize, Pillow's resize, the patch layout) and prompt expansion; greedy
// generation (Model.Generate); and Policy, the model as the trainer's captioning policy (the
// vision tower frozen, the language model trained).
//
// Oracle of the tests: transformers 5.17, on the tiny random qwen2_5_vl checkpoint of
// models/hf/testdata/transformers with transformers' image features, M-RoPE positions, hidden
// states, logits, generate() tokens, pixel_values and expanded prompt; the policy's own two
// paths (cached sampling and teacher forcing) must agree.
//
// Threads: as for every libtorch model of the project, all work on a model happens on one
// goroutine locked to its OS thread; a model is not safe for concurrent use.
package qwenvl
