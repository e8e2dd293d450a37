package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"
	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/collective"
	"github.com/unigrpo/unigrpo/launch"
	"github.com/unigrpo/unigrpo/models/captioner"
	"github.com/unigrpo/unigrpo/nccl"
	"github.com/unigrpo/unigrpo/trainer"
)

// placement says how this process sits on its machine: libtorch threads, the GPU sharing, where
// the optimizer state lives and how gradients are synchronised. The environment variables
// UNIGRPO_SHARE_GPUS=1, UNIGRPO_OPTIMIZER and UNIGRPO_GRAD_SYNC, which these flags replace, stay
// accepted as their defaults; nothing below the command reads them.
type placement struct {
	threads   *int
	shareGPUs *bool
	optimizer *string
	gradSync  *string
	shard     *bool
	wire      *string
}

// placementFlags adds the placement flags to fs; threadsHelp is the --threads help of the command.
func placementFlags(fs *pflag.FlagSet, threadsHelp string) placement {
	return placement{
		threads:   fs.Int("threads", 1, threadsHelp),
		shareGPUs: fs.Bool("share-gpus", os.Getenv("UNIGRPO_SHARE_GPUS") == "1", "with --device cuda: place more ranks than GPUs on the GPUs round-robin (gradients then need --grad-sync ring)"),
		optimizer: fs.String("optimizer", envOr("UNIGRPO_OPTIMIZER", "auto"), "where the optimizer state lives: auto (on the GPU under CUDA, else host memory), host or device"),
		shard:     fs.Bool("shard-optimizer", true, "with several ranks: each rank keeps 1/N of the optimizer state (ZeRO-1: gradients reduce-scattered, values all-gathered; the same numbers as replicated); --shard-optimizer=false keeps it all on every rank"),
		wire:      fs.String("grad-reduce-dtype", "float32", "the type gradients travel in between ranks: float32, or bfloat16 for half the bytes (sums stay float32; the CPU ring only, not NCCL)"),
		gradSync:  fs.String("grad-sync", envOr("UNIGRPO_GRAD_SYNC", "auto"), "how gradients are averaged over ranks: auto (NCCL on CUDA with several ranks, else the CPU ring), ring or nccl"),
	}
}

// envOr is the environment variable name, or def when it is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// connect joins the job described by the environment (launch's torchrun-style variables, or
// SLURM's); with neither it is a world of one. On CUDA with several ranks, gradients are
// averaged by NCCL on a fused buffer kept on the GPU (--grad-sync ring keeps them on the CPU ring
// through host memory; nccl uses NCCL even for one rank, to check that path).
func connect(p placement, device string) (*trainer.Dist, func(), error) {
	threads, sync := *p.threads, *p.gradSync
	if threads < 1 {
		return nil, nil, usagef("--threads %d: must be at least 1", threads)
	}
	if sync != "auto" && sync != "ring" && sync != "nccl" {
		return nil, nil, usagef("--grad-sync %q: want auto, ring or nccl", sync)
	}
	if o := *p.optimizer; o != "auto" && o != "host" && o != "device" {
		return nil, nil, usagef("--optimizer %q: want auto, host or device", o)
	}
	wire := collective.WireFloat32
	switch *p.wire {
	case "float32":
	case "bfloat16":
		wire = collective.WireBFloat16
	default:
		return nil, nil, usagef("--grad-reduce-dtype %q: want float32 or bfloat16", *p.wire)
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
	d := &trainer.Dist{Comm: ring, OpTimeout: 10 * time.Minute, LocalRank: env.LocalRank,
		ShareGPUs: *p.shareGPUs, Optimizer: *p.optimizer, Shard: *p.shard && env.WorldSize > 1, GradWire: wire}
	closeAll := func() { ring.Close(); store.Close() }
	dev, err := trainer.ParseDevice(device, env.LocalRank, d.ShareGPUs)
	if err != nil || dev == gotch.CPU || sync == "ring" || (env.WorldSize == 1 && sync != "nccl") {
		return d, closeAll, nil // a bad --device is reported by the command itself
	}
	lib, err := nccl.Load(nccl.LoadOptions{})
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("--device cuda with %d ranks averages gradients with NCCL: %w (--grad-sync ring uses the CPU ring instead)", env.WorldSize, err)
	}
	comm, err := lib.NewComm(context.Background(), nccl.Config{Rank: env.Rank, Size: env.WorldSize, Device: env.LocalRank, Store: store, Timeout: 10 * time.Minute})
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("creating the NCCL communicator: %w", err)
	}
	d.Grads = comm
	return d, func() { comm.Close(); closeAll() }, nil
}
