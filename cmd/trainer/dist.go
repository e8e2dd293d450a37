package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/collective"
	"github.com/unigrpo/unigrpo/launch"
	"github.com/unigrpo/unigrpo/models/captioner"
	"github.com/unigrpo/unigrpo/nccl"
	"github.com/unigrpo/unigrpo/trainer"
)

// connect joins the job described by the environment (launch's torchrun-style variables, or
// SLURM's); with neither it is a world of one. On CUDA with several ranks, gradients are
// averaged by NCCL on a fused buffer kept on the GPU (UNIGRPO_GRAD_SYNC=ring keeps them on the
// CPU ring through host memory; =nccl uses NCCL even for one rank, to check that path).
func connect(threads int, device string) (*trainer.Dist, func(), error) {
	if threads < 1 {
		return nil, nil, usagef("--threads %d: must be at least 1", threads)
	}
	captioner.SetThreads(threads)
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
	d := &trainer.Dist{Comm: ring, OpTimeout: 10 * time.Minute, LocalRank: env.LocalRank}
	closeAll := func() { ring.Close(); store.Close() }
	sync := os.Getenv("UNIGRPO_GRAD_SYNC")
	if sync != "" && sync != "auto" && sync != "ring" && sync != "nccl" {
		closeAll()
		return nil, nil, usagef("UNIGRPO_GRAD_SYNC=%q: want auto, ring or nccl", sync)
	}
	dev, err := trainer.ParseDevice(device, env.LocalRank)
	if err != nil || dev == gotch.CPU || sync == "ring" || (env.WorldSize == 1 && sync != "nccl") {
		return d, closeAll, nil // a bad --device is reported by the command itself
	}
	lib, err := nccl.Load(nccl.LoadOptions{})
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("--device cuda with %d ranks averages gradients with NCCL: %w (UNIGRPO_GRAD_SYNC=ring uses the CPU ring instead)", env.WorldSize, err)
	}
	comm, err := lib.NewComm(context.Background(), nccl.Config{Rank: env.Rank, Size: env.WorldSize, Device: env.LocalRank, Store: store, Timeout: 10 * time.Minute})
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("creating the NCCL communicator: %w", err)
	}
	d.Grads = comm
	return d, func() { comm.Close(); closeAll() }, nil
}
