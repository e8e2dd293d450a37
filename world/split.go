package world

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
)

// Split is one of the three disjoint shares of the world's scene descriptions: scenes are
// trained on, validated on (choices made while training) or benchmarked on (the reported
// numbers), and a description belongs to exactly one share.
type Split int

// The splits. A scene's split is that of its complete description (SplitOf).
const (
	Train Split = iota
	Validation
	Benchmark
)

// splitBuckets is the number of hash buckets; bucket 0 is the benchmark's, bucket 1 the
// validation's and the rest the training's: 80% / 10% / 10% of the descriptions.
const splitBuckets = 10

// String names the split as the command line does.
func (s Split) String() string {
	switch s {
	case Train:
		return "train"
	case Validation:
		return "validation"
	case Benchmark:
		return "benchmark"
	}
	return fmt.Sprintf("Split(%d)", int(s))
}

// ParseSplit reads a split's name (train, validation or benchmark).
func ParseSplit(name string) (Split, error) {
	for _, s := range []Split{Train, Validation, Benchmark} {
		if s.String() == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("split %q: use train, validation or benchmark", name)
}

// SplitOf returns the split of a scene: a hash of its complete description (Oracle: every
// object's size, colour, shape and cell, and the background; not the jitter, which no caption
// states) picks it. Scenes that read the same fall in the same split, so no benchmark scene's
// description is ever trained on, whatever the seeds; a description's split never changes.
func SplitOf(s Scene) Split {
	h := fnv.New64a()
	h.Write([]byte("unigrpo/world/split\x00"))
	for _, id := range Oracle(s) {
		h.Write([]byte{byte(id)})
	}
	switch h.Sum64() % splitBuckets {
	case 0:
		return Benchmark
	case 1:
		return Validation
	}
	return Train
}

// SampleIn draws scenes from the world's prior (Sample) with rng until one falls in split sp,
// and returns it: the prior conditioned on the split. The same rng state gives the same scene.
// Every valid world has hundreds of one-object descriptions in each split, so it ends after
// about ten draws for the validation and benchmark splits and about one for training.
func (c Config) SampleIn(rng *rand.Rand, sp Split) Scene {
	for {
		s := c.Sample(rng)
		if SplitOf(s) == sp {
			return s
		}
	}
}
