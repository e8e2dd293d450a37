package hf

// GenerateOptions control greedy generation: the families' Generate and GenerateText.
type GenerateOptions struct {
	MaxNew int // tokens to generate per row
	// Stop holds the ids that end a row (an end-of-sequence token, included in its output);
	// empty: rows run for MaxNew tokens, as transformers' generate does without an eos id.
	Stop []int
}
