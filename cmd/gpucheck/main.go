// Command gpucheck verifies a GPU host for multi-GPU training: it loads
// NCCL and the CUDA runtime (dlopen; see package nccl for the search
// order and the UNIGRPO_NCCL_LIB / UNIGRPO_CUDART_LIB variables), prints
// their versions, runs a one-rank all-reduce on device memory and checks
// the result, runs an all-reduce across the visible GPUs with its
// bandwidth, and reads NVML. It exits 1 with the reason on any failure.
//
//	gpucheck [-count N] [-gpus N] [-iters N] [-timeout D]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/unigrpo/unigrpo/nccl"
)

func main() {
	count := flag.Int("count", 1<<24, "float32 elements per rank in the all-reduce tests")
	gpus := flag.Int("gpus", 0, "ranks of the multi-GPU all-reduce (0: every visible GPU, up to 8; 1: skip it)")
	iters := flag.Int("iters", 5, "timed multi-GPU all-reduce iterations")
	timeout := flag.Duration("timeout", 2*time.Minute, "limit for each collective (watchdog)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: gpucheck [flags]\nChecks NCCL, the CUDA runtime and NVML on this host.")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "gpucheck: unexpected argument %q\n", flag.Arg(0))
		flag.Usage()
		os.Exit(2)
	}
	if *count < 1 || *gpus < 0 || *iters < 1 || *timeout <= 0 {
		fmt.Fprintln(os.Stderr, "gpucheck: -count and -iters must be at least 1, -gpus at least 0 and -timeout positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := nccl.Check(ctx, os.Stdout, nccl.CheckOptions{Count: *count, GPUs: *gpus, Iters: *iters, Timeout: *timeout})
	if err != nil {
		fmt.Fprintf(os.Stderr, "gpucheck: FAILED: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("gpucheck: OK")
}
