package captioner

import "github.com/unigrpo/unigrpo/models/policy"

// The results of the captioner are the shared types of package policy, which every policy
// family returns to the trainer.
type (
	// SampleOptions controls Sample.
	SampleOptions = policy.SampleOptions
	// Rollout is the result of Sample.
	Rollout = policy.Rollout
	// Scores holds teacher-forced per-token results.
	Scores = policy.Scores
	// Param is a named parameter tensor.
	Param = policy.Param
)
