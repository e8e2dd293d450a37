package eval

import (
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/pooled"
	"github.com/unigrpo/unigrpo/models/policy"
)

// Judge scores captions against the labels of their images where labels exist: the
// understanding metrics (the world's object matching is one judge).
type Judge interface {
	// Metrics lists the metrics Judge returns, in table order.
	Metrics() []Metric
	// Judge pools the scores of captions[i] against labels[i] over a set.
	Judge(labels []any, captions []string) (map[string]float64, error)
}

// Ratio is one item's share of a metric pooled over items (pooled.Ratio): over a set, or a
// bootstrap resample of it, the metric is the sum of the numerators over the sum of the
// denominators.
type Ratio = pooled.Ratio

// ItemJudge is a Judge that also scores each item alone, so that the benchmark can draw
// intervals by resampling the items (Bootstrap).
type ItemJudge interface {
	Judge
	// JudgeItems returns each item's share of every metric, by key; pooled they are Judge's
	// metrics.
	JudgeItems(labels []any, captions []string) (map[string][]Ratio, error)
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

// Prober is a model with abilities measured beside its captions on held-out labelled images:
// a unified model's visual-question accuracy and the accuracy of the images it draws from
// prompts. Its metrics join the judge's in the understanding table.
type Prober interface {
	// Probes lists the metrics Probe returns, in table order.
	Probes() []Metric
	// Probe measures them on a held-out set (its labels), with draws keyed by seed.
	Probe(set *images.Set, seed uint64) (map[string]float64, error)
}

// ItemProber is a Prober that also scores each item alone, for intervals over items.
type ItemProber interface {
	Prober
	// ProbeItems returns every probe, as Probe does (Probe is its first result), and each item's
	// share of the probes that pool over items, by key: item i is what scene i of the set (its
	// questions, the drawing of a prompt written from it) contributes. Probes of the whole set
	// (a codebook's use) have no items.
	ProbeItems(set *images.Set, seed uint64) (values map[string]float64, items map[string][]Ratio, err error)
}
