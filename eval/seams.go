package eval

import (
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/policy"
)

// Reward is the frozen reward module of Unified-GRPO: a text-to-image decoder that regenerates an
// image from each caption and the embedders that compare it with its source. The world's renderer
// and embedders are one; a remote service running the user's diffusion model is another.
type Reward interface {
	// Embedders names the embedders whose similarities make up the reward, in order.
	Embedders() []string
	// Rewards regenerates an image from each of the N = B*G captions (row b*G+g belongs to source
	// image b; captions are text, since the decoder's tokenizer is not the policy's), its random
	// draws keyed by keys[r], and returns per row the reward (the mean over embedders of the
	// cosine similarity with the source) and the similarities under each embedder [N][K].
	Rewards(src []images.Planar, G int, captions []string, keys []stream.Key) (reward []float64, parts [][]float64, err error)
}

// HiddenReward is a Reward whose decoder can also read each caption's last hidden state [N][D]
// (the paper's UMM-1 conditions its decoder on a projection of it); the trainer passes it when the
// policy's rollout has one.
type HiddenReward interface {
	RewardsWithHidden(src []images.Planar, G int, captions []string, hidden [][]float32, keys []stream.Key) (reward []float64, parts [][]float64, err error)
}

// Reconstructor is a Reward that can also hand back its reconstructions, for example sheets.
type Reconstructor interface {
	Reconstruct(captions []string, keys []stream.Key) ([]images.Planar, error)
}

// Judge scores captions against the labels of their images where labels exist: the
// understanding metrics (the world's object matching is one judge).
type Judge interface {
	// Metrics lists the metrics Judge returns, in table order.
	Metrics() []Metric
	// Judge pools the scores of captions[i] against labels[i] over a set.
	Judge(labels []any, captions []string) (map[string]float64, error)
}

// Metric is one understanding metric: its key in JSON and metrics.jsonl, and its column title
// in unibench.md ("" keeps it out of the table). It is an unnamed struct type so that a judge can
// declare the same type without importing this package.
type Metric = struct{ Key, Title string }

// Captioner is what evaluation needs of a policy: captions for images.
type Captioner interface {
	// Sample draws G captions per image (rngs: one per row, nil with opt.Greedy).
	Sample(imgs []images.Planar, G int, opt policy.SampleOptions, rngs []*rand.Rand) (*policy.Rollout, error)
	// Text detokenizes a caption (without its end token).
	Text(tokens []int) string
}

// Words returns the caption of a rollout row without its end token: a row that ended (was not
// truncated) finishes with the policy's end token.
func Words(roll *policy.Rollout, r int) []int {
	t := roll.Tokens[r]
	if !roll.Truncated[r] && len(t) > 0 {
		return t[:len(t)-1]
	}
	return t
}

// SelfDecoder is a unified model (the paper's UMM-2) that regenerates images from captions
// itself: its own generation direction is the decoder of its reward, so each checkpoint is
// scored with its own reconstructions rather than with a task-wide decoder.
type SelfDecoder interface {
	// Decoder is the reward that regenerates with this model and compares under the task's
	// embedders. It lives as long as the model.
	Decoder() Reward
}

// Prober is a model with abilities measured beside its captions on held-out labelled images:
// a unified model's visual-question accuracy and the accuracy of the images it draws from
// prompts. Its metrics join the judge's in the understanding table.
type Prober interface {
	// Probes lists the metrics Probe returns, in table order.
	Probes() []Metric
	// Probe measures them on a held-out set (its labels), with draws keyed by seed.
	Probe(set *images.Set, seed uint64) (map[string]float64, error)
}
