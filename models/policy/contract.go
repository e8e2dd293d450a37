package policy

import "github.com/unigrpo/unigrpo/models/caption"

// The results of the captioner are the shared types of package caption, which every policy
// family returns to the trainer.
type (
	// SampleOptions controls Sample.
	SampleOptions = caption.SampleOptions
	// Rollout is the result of Sample.
	Rollout = caption.Rollout
	// Scores holds teacher-forced per-token results.
	Scores = caption.Scores
	// Param is a named parameter tensor.
	Param = caption.Param
)
