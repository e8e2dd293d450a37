package task

import (
	"fmt"
	"strings"

	"github.com/unigrpo/unigrpo/internal/pooled"
	"github.com/unigrpo/unigrpo/world"
)

// Metric is one understanding metric: its key in JSON and metrics files and its column title in
// tables ("" keeps it out of the table). eval.Metric has the same fields.
type Metric = struct{ Key, Title string }

// Judge scores captions against their scenes by object matching (world.Understand).
type Judge struct{}

// Metrics lists the understanding metrics, in table order.
func (Judge) Metrics() []Metric {
	return []Metric{
		{"object_precision", "object precision"}, {"object_recall", "object recall"},
		{"attribute_accuracy", "attribute accuracy"}, {"small_object_recall", "small-object recall"},
		{"position_accuracy", "position accuracy"}, {"coverage", "coverage"},
		{"size_accuracy", ""}, {"color_accuracy", ""}, {"shape_accuracy", ""},
	}
}

// Judge pools the understanding of captions[i] of scene labels[i] over the set (a micro-average,
// see world.MeanUnderstanding): JudgeItems, pooled.
func (j Judge) Judge(labels []any, captions []string) (map[string]float64, error) {
	items, err := j.JudgeItems(labels, captions)
	if err != nil {
		return nil, err
	}
	return pooled.Values(items), nil
}

// JudgeItems returns each scene's share of every understanding metric (world.Counts.Ratios of
// its caption's tallies), by metric key: pooled over the scenes they are Judge's metrics, and a
// bootstrap resamples them scene by scene.
func (Judge) JudgeItems(labels []any, captions []string) (map[string][]pooled.Ratio, error) {
	if len(labels) != len(captions) {
		return nil, fmt.Errorf("world judge: %d labels for %d captions", len(labels), len(captions))
	}
	vocab := world.NewVocab()
	items := map[string][]pooled.Ratio{}
	for i, l := range labels {
		s, ok := l.(world.Scene)
		if !ok {
			return nil, fmt.Errorf("world judge: label %d is a %T, not a world scene", i, l)
		}
		fields := strings.Fields(captions[i])
		ids := make([]int, len(fields))
		for j, f := range fields {
			if id, ok := vocab.ID(f); ok {
				ids[j] = id
			}
		}
		for k, r := range world.Understand(s, ids).Counts.Ratios() {
			items[k] = append(items[k], r)
		}
	}
	return items, nil
}
