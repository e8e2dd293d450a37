package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/models/hf/vit"
	"github.com/unigrpo/unigrpo/reward"
	"github.com/unigrpo/unigrpo/trainer"
	"github.com/unigrpo/unigrpo/world"
	"github.com/unigrpo/unigrpo/world/task"
)

// runServeReward serves the world's reward (renderer and embedders, Hugging Face encoders
// among them) over the reward protocol: the reference implementation of the service that
// `trainer train --reward-url` calls.
func runServeReward(args []string) error {
	fs := newFlags("serve-reward", "--listen HOST:PORT|unix:///PATH [flags]")
	listen := fs.String("listen", "", "address to serve on: HOST:PORT (e.g. 127.0.0.1:8470) or unix:///PATH")
	names := fs.String("reward", "all", "reward embedders, comma-separated: the world's (conv, colour, edge, or all) and Hugging Face vision encoders as NAME=DIR or hf:DIR (CLIP, DINOv2, SigLIP)")
	workers := fs.Int("workers", 1, "with Hugging Face encoders: requests computed at once, each worker on its own OS thread with its own copy of the encoders (the others queue)")
	device, batch := "auto", 0
	rewardDeviceFlags(fs, &device, &batch, "default auto: the first GPU when there is one")
	maxBatch := fs.Int("max-batch", 4096, "most captions per request")
	allowPaths := fs.Bool("allow-paths", false, "accept source images given as file paths (read on this machine: only for a service that is not reachable from others)")
	maxPixels := fs.Int("max-image-pixels", images.DefaultMaxPixels, "answer 400 to a source image whose header claims more pixels than this (read before decoding)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *listen == "" {
		return usagef("serve-reward: --listen is required")
	}
	if *maxBatch < 1 {
		return usagef("serve-reward: --max-batch %d: must be at least 1", *maxBatch)
	}
	if *workers < 1 {
		return usagef("serve-reward: --workers %d: must be at least 1", *workers)
	}
	if err := checkRewardDevice(device, batch); err != nil {
		return usagef("serve-reward: %v", err)
	}
	wc := world.DefaultConfig()
	rw, err := servedReward(wc, *names, device, batch, *workers)
	if err != nil {
		return err
	}
	defer rw.Close()
	ln, err := reward.Listen(*listen)
	if err != nil {
		return fmt.Errorf("serve-reward: --listen %s: %w", *listen, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	size := 0
	if *allowPaths {
		size = wc.Size
	}
	srv := reward.NewServer(rw, reward.ServerOptions{MaxBatch: *maxBatch, Size: size, MaxPixels: *maxPixels,
		Logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }})
	fmt.Printf("serving the world reward (%s), protocol %d, on %s\n", strings.Join(rw.Embedders(), ", "), reward.Protocol, ln.Addr())
	return srv.Serve(ctx, ln)
}

// closingScorer is a served reward that frees what it holds.
type closingScorer interface {
	reward.Scorer
	Close()
}

// servedReward is the world's reward with the embedders of names. With Hugging Face encoders it
// is served by workers (reward.Workers): each builds its own copy of the reward on its own locked
// OS thread, the encoders on device (cpu, cuda or auto: GPU 0) with batch images a pass, and a
// request waits for a free worker. The world's embedders alone are safe for concurrent use and
// served as they are.
func servedReward(wc world.Config, names, device string, batch, workers int) (closingScorer, error) {
	if !task.HasEncoders(names) {
		rw, err := task.NewReward(wc, names)
		if err != nil {
			return nil, usagef("serve-reward: --reward %s: %v", names, err)
		}
		return rw, nil
	}
	dev, err := trainer.ParseDevice(device, 0, false)
	if err != nil {
		return nil, usagef("serve-reward: --reward-device: %v", err)
	}
	ws, err := reward.NewWorkers(workers, func() (reward.Scorer, error) {
		rw, err := task.NewRewardWith(wc, names, vit.EmbedderOptions{Device: dev, MaxBatch: batch})
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return rw, nil
	})
	if err != nil {
		return nil, usagef("serve-reward: --reward %s: %v", names, err)
	}
	return ws, nil
}
