package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/spf13/pflag"
	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/lm"
	"github.com/unigrpo/unigrpo/models/policy"
)

// rolloutResult is the JSON line of `lmbench rollout`; bench/torch/lmbench.py --rollout prints
// the same keys.
type rolloutResult struct {
	Side       string    `json:"side"`
	DType      string    `json:"dtype"`
	Layers     int       `json:"layers"`
	Batch      int       `json:"batch"` // rows sampled together: G samples of one prompt
	Prompt     int       `json:"prompt"`
	New        int       `json:"new"`
	Repeat     int       `json:"repeat"`
	Threads    int       `json:"threads"`
	Seed       uint64    `json:"seed"`
	Method     string    `json:"method"`
	RolloutS   []float64 `json:"rollout_s"` // each repeat's rollout time
	BestS      float64   `json:"best_s"`
	RolloutTok float64   `json:"rollout_tok_s"` // sampled tokens per second, prefill included
	Tokens     int       `json:"tokens"`        // tokens of the last repeat (every row runs --new)
}

// runRollout is `lmbench rollout`: G samples of one prompt, --new tokens each, through the text
// policy's Sample (models/hf/lm TextPolicy: what a GRPO step's rollout runs), at temperature 1
// with no end token, so that every row samples --new tokens. The code uses only the API that the
// project had before the device sampler (lm.NewTextPolicy, Sample), so scripts/bench/lm.sh builds
// it against an earlier revision too (LM_ROLLOUT_BEFORE).
func runRollout(args []string) error {
	fs := pflag.NewFlagSet("rollout", pflag.ExitOnError)
	dir := fs.String("model", "", "model folder (lmbench init)")
	dtype := fs.String("dtype", "float32", "float32 or bfloat16")
	group := fs.Int("group", 8, "samples of the prompt (rows)")
	prompt := fs.Int("prompt", 64, "tokens of the prompt")
	newTok := fs.Int("new", 64, "tokens sampled per row")
	repeat := fs.Int("repeat", 2, "timed repeats (the best is kept)")
	threads := fs.Int("threads", 1, "libtorch threads")
	seed := fs.Uint64("seed", 1, "seed of the prompt ids and of the rows' generators")
	side := fs.String("side", "go", "the side's name in the JSON line (go, go-before)")
	cpuprofile := fs.String("cpuprofile", "", "write a Go CPU profile of the timed rollouts to this file (libtorch's time shows as runtime.cgocall)")
	_ = fs.Parse(args)
	kind, err := parseKind(*dtype)
	if err != nil {
		return err
	}
	if *dir == "" || *group < 1 || *prompt < 1 || *newTok < 2 || *repeat < 1 || *threads < 1 {
		return fmt.Errorf("rollout: need --model, positive --group, --prompt, --repeat and --threads, --new of at least 2")
	}
	runtime.LockOSThread()
	raw.SetThreads(*threads)
	r := rolloutResult{Side: *side, DType: *dtype, Batch: *group, Prompt: *prompt, New: *newTok, Repeat: *repeat,
		Threads: *threads, Seed: *seed, Method: "least of --repeat timed Sample calls (prefill, every step and the reads of the results)"}
	c, err := hf.ReadLMConfig(*dir)
	if err != nil {
		return err
	}
	r.Layers = c.Layers
	ids := promptIDs(*seed, 1, *prompt, c.Vocab)[0]
	p, err := lm.NewTextPolicy(*dir, gotch.CPU, kind, ids, nil, func([]int) string { return "" }, *newTok, false)
	if err != nil {
		return err
	}
	defer p.Close()
	imgs := make([]images.Planar, 1) // the text policy reads no image
	sample := func(i, n int) (*policy.Rollout, error) {
		rngs := make([]*rand.Rand, *group)
		for g := range rngs {
			rngs[g] = rand.New(rand.NewPCG(*seed, uint64(i**group+g)))
		}
		return p.Sample(imgs, *group, policy.SampleOptions{Temperature: 1, MaxLen: n}, rngs)
	}
	if _, err := sample(-1, 2); err != nil { // warm-up: the first calls' one-time costs
		return err
	}
	if *cpuprofile != "" {
		stop, err := startProfile(*cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	r.BestS = math.Inf(1)
	for i := range *repeat {
		t := time.Now()
		roll, err := sample(i, *newTok)
		if err != nil {
			return err
		}
		d := time.Since(t).Seconds()
		r.RolloutS = append(r.RolloutS, d)
		r.BestS = math.Min(r.BestS, d)
		r.Tokens = 0
		for _, n := range roll.Lengths {
			r.Tokens += n
		}
	}
	if r.Tokens != *group**newTok {
		return fmt.Errorf("rollout: %d tokens sampled, want %d (every row runs --new)", r.Tokens, *group**newTok)
	}
	r.RolloutTok = float64(r.Tokens) / r.BestS
	js, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fmt.Println(string(js))
	return nil
}
