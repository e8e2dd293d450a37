package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/unigrpo/unigrpo/reward"
	"github.com/unigrpo/unigrpo/world"
	"github.com/unigrpo/unigrpo/world/task"
)

// runServeReward serves the world's reward (renderer and embedders) over the reward protocol:
// the reference implementation of the service that `trainer train --reward-url` calls.
func runServeReward(args []string) error {
	fs := newFlags("serve-reward", "--listen HOST:PORT|unix:///PATH [flags]")
	listen := fs.String("listen", "", "address to serve on: HOST:PORT (e.g. 127.0.0.1:8470) or unix:///PATH")
	names := fs.String("reward", "all", "reward embedders, comma-separated (conv, colour, edge) or all")
	maxBatch := fs.Int("max-batch", 4096, "most captions per request")
	delay := fs.Duration("delay", 0, "wait this long per caption before answering, one request at a time: a stand-in for a slow text-to-image decoder, for tests and benchmarks of a pool of services (0: none)")
	allowPaths := fs.Bool("allow-paths", false, "accept source images given as file paths (read on this machine: only for a service that is not reachable from others)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *listen == "" {
		return usagef("serve-reward: --listen is required")
	}
	if *maxBatch < 1 {
		return usagef("serve-reward: --max-batch %d: must be at least 1", *maxBatch)
	}
	if *delay < 0 {
		return usagef("serve-reward: --delay %v: must not be negative", *delay)
	}
	if strings.Contains(*names, "=") || strings.Contains(*names, "hf:") {
		return usagef("serve-reward: --reward %s: Hugging Face encoders are not served here (they run on libtorch, one request at a time); use them in process (trainer train --reward) or in your own service", *names)
	}
	wc := world.DefaultConfig()
	rw, err := task.NewReward(wc, *names)
	if err != nil {
		return usagef("serve-reward: --reward %s: %v", *names, err)
	}
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
	var scorer reward.Scorer = rw
	if *delay > 0 {
		if scorer, err = reward.NewSlow(rw, *delay); err != nil {
			return usagef("serve-reward: --delay: %v", err)
		}
	}
	srv := reward.NewServer(scorer, reward.ServerOptions{MaxBatch: *maxBatch, Size: size,
		Logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }})
	slow := ""
	if *delay > 0 {
		slow = fmt.Sprintf(", %v per caption", *delay)
	}
	fmt.Printf("serving the world reward (%s%s), protocol %d, on %s\n", strings.Join(rw.Embedders(), ", "), slow, reward.Protocol, ln.Addr())
	return srv.Serve(ctx, ln)
}
