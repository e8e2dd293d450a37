// Command lmbench measures the Hugging Face language-model path of package models/hf/lm on a
// Qwen2-0.5B-shaped model with random weights: prefill and decode speed of greedy generation
// with a key/value cache, and resident memory against the weights plus the cache. The PyTorch
// twin bench/torch/lmbench.py runs the same model, prompts and work; scripts/bench/lm.sh runs
// both and writes the table.
//
//	lmbench init --out DIR [--layers 24 --hidden 896 ...]
//	    writes DIR/config.json and a seeded random DIR/model.safetensors (float32, Hugging Face
//	    names, tied head), streamed to disk.
//	lmbench run --model DIR --dtype float32|bfloat16 [--batch 8 --prompt 64 --new 16 --repeat 2]
//	    prints one JSON line (see result).
//	lmbench rollout --model DIR [--group 8 --prompt 64 --new 64 --repeat 2 --side go]
//	    times the text policy's Sample of G samples of one prompt (the GRPO rollout) and prints
//	    one JSON line (see rolloutResult).
//
// Timing method: lm.Model.Generate has no hook between its steps, so each repeat times
// Generate(1 new token) (the prefill of the prompt, which also yields the first token) and
// Generate(N new tokens); prefill = the first, one decode step = (second - first) / (N-1). The
// best (least) of --repeat is kept for each. Before them, --warmup untimed generations of two
// tokens from one token take the first calls' one-time costs out. The twin times itself the
// same way. Each call's minor page faults are recorded too (fresh memory the call touched).
//
// Memory: VmRSS before and after loading, VmHWM at the end of loading, then VmHWM is reset
// (/proc/self/clear_refs) so that the peak of generation is read apart from the peak of loading.
//
// Prompts: row b, token t is splitmix64 step b*P+t+1 from --seed, modulo the vocabulary (the
// twin computes the same ids). Rows are all --prompt tokens long (no padding).
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "init":
		err = runInit(os.Args[2:])
	case "run":
		err = runBench(os.Args[2:])
	case "rollout":
		err = runRollout(os.Args[2:])
	case "-h", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "lmbench: unknown command %q\n", os.Args[1])
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lmbench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: lmbench init --out DIR [--layers N ...] | lmbench run --model DIR --dtype float32|bfloat16 [--batch 8 --prompt 64 --new 16 --repeat 2] | lmbench rollout --model DIR [--group 8 --prompt 64 --new 64]")
	os.Exit(2)
}
