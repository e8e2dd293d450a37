package main

import (
	"context"
	"fmt"

	lib "github.com/sugarme/gotch/libtch"

	"github.com/unigrpo/unigrpo/collective"
	"github.com/unigrpo/unigrpo/trainer"
)

// connect joins the job described by the environment (launch, torchrun-style variables or
// SLURM); with none of them it is a world of one.
func connect(threads int) (*trainer.Dist, func(), error) {
	if threads < 1 {
		return nil, nil, usagef("--threads %d: must be at least 1", threads)
	}
	lib.AtSetNumThreads(threads)
	ring, store, err := collective.Connect(context.Background(), collective.Options{Rank: 0, Size: 1})
	if err != nil {
		return nil, nil, fmt.Errorf("joining the job: %w", err)
	}
	return &trainer.Dist{Comm: ring}, func() { ring.Close(); store.Close() }, nil
}
