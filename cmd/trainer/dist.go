package main

import (
	"context"
	"fmt"
	"time"

	"github.com/unigrpo/unigrpo/collective"
	"github.com/unigrpo/unigrpo/launch"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/trainer"
)

// connect joins the job described by the environment (launch's torchrun-style variables, or
// SLURM's); with neither it is a world of one.
func connect(threads int) (*trainer.Dist, func(), error) {
	if threads < 1 {
		return nil, nil, usagef("--threads %d: must be at least 1", threads)
	}
	policy.SetThreads(threads)
	env, err := launch.FromEnv()
	if err != nil {
		return nil, nil, fmt.Errorf("reading the job's environment: %w", err)
	}
	ring, store, err := collective.Connect(context.Background(), collective.Options{
		Rank: env.Rank, Size: env.WorldSize, MasterAddr: env.MasterAddr, MasterPort: env.MasterPort,
		Token: env.Token, Timeout: 5 * time.Minute, OpTimeout: 10 * time.Minute,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("rank %d of %d joining the job at %s:%d: %w", env.Rank, env.WorldSize, env.MasterAddr, env.MasterPort, err)
	}
	return &trainer.Dist{Comm: ring, OpTimeout: 10 * time.Minute, LocalRank: env.LocalRank}, func() { ring.Close(); store.Close() }, nil
}
