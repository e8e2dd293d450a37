package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/spf13/pflag"
	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/lm"
)

// result is the JSON line of a run; bench/torch/lmbench.py prints the same keys.
type result struct {
	Side         string    `json:"side"`
	DType        string    `json:"dtype"`
	Layers       int       `json:"layers"`
	Batch        int       `json:"batch"`
	Prompt       int       `json:"prompt"`
	New          int       `json:"new"`
	Repeat       int       `json:"repeat"`
	Warmup       int       `json:"warmup"`
	Threads      int       `json:"threads"`
	Seed         uint64    `json:"seed"`
	Method       string    `json:"method"`
	LoadS        float64   `json:"load_s"`
	Gen1S        []float64 `json:"gen1_s"`      // each repeat's Generate(1) time
	GenNS        []float64 `json:"genN_s"`      // each repeat's Generate(N) time
	Gen1Faults   []int64   `json:"gen1_faults"` // minor page faults of each Generate(1)
	GenNFaults   []int64   `json:"genN_faults"` // and of each Generate(N)
	PrefillS     float64   `json:"prefill_s"`
	DecodeStepS  float64   `json:"decode_step_s"`
	PrefillTokS  float64   `json:"prefill_tok_s"` // prompt tokens of the batch per second
	DecodeTokS   float64   `json:"decode_tok_s"`  // new tokens of the batch per second, after the first
	WeightsBytes int64     `json:"weights_bytes"`
	KVBytes      int64     `json:"kv_bytes"`       // the cache at the end: layers x (K, V) x B x KV x (P+N-1) x Dh
	RSSStart     int64     `json:"rss_start"`      // before loading (runtime, libtorch)
	RSSAfterLoad int64     `json:"rss_after_load"` // VmRSS once the model is loaded
	PeakRSSLoad  int64     `json:"peak_rss_load"`  // VmHWM up to the end of loading
	PeakRSSRun   int64     `json:"peak_rss_run"`   // VmHWM during generation (reset after loading)
	PeakRSS      int64     `json:"peak_rss"`       // the process's peak: max of the two
	PeakReset    bool      `json:"peak_reset"`     // whether VmHWM could be reset after loading
	Tokens       [][]int   `json:"tokens"`         // the greedy tokens of Generate(N)
}

// runBench is `lmbench run`: it loads the model, times its generations and prints the result.
func runBench(args []string) error {
	fs := pflag.NewFlagSet("run", pflag.ExitOnError)
	dir := fs.String("model", "", "model folder (lmbench init)")
	dtype := fs.String("dtype", "float32", "float32 or bfloat16")
	batch := fs.Int("batch", 8, "prompts per batch")
	prompt := fs.Int("prompt", 64, "tokens per prompt")
	newTok := fs.Int("new", 16, "new tokens per prompt (at least 2)")
	repeat := fs.Int("repeat", 2, "timed repeats (the best is kept)")
	threads := fs.Int("threads", 1, "libtorch threads")
	seed := fs.Uint64("seed", 1, "seed of the prompt ids")
	cpuprofile := fs.String("cpuprofile", "", "write a Go CPU profile of the timed generations to this file (cgo calls show as runtime.cgocall)")
	warmup := fs.Int("warmup", 1, "untimed generations of 2 tokens from the first prompt's first token before timing")
	_ = fs.Parse(args)
	kind, err := parseKind(*dtype)
	if err != nil {
		return err
	}
	if *dir == "" || *batch < 1 || *prompt < 1 || *newTok < 2 || *repeat < 1 || *threads < 1 || *warmup < 0 {
		return fmt.Errorf("run: need --model, positive --batch, --prompt, --repeat and --threads, --new of at least 2 and --warmup of at least 0")
	}

	runtime.LockOSThread() // libtorch's error slot and grad mode are per thread
	raw.SetThreads(*threads)
	r := result{Side: "go", DType: *dtype, Batch: *batch, Prompt: *prompt, New: *newTok, Repeat: *repeat,
		Warmup: *warmup, Threads: *threads, Seed: *seed,
		Method: "prefill = min over repeats of Generate(1); decode step = (min Generate(N) - min Generate(1)) / (N-1)"}
	r.RSSStart = procStatus("VmRSS")

	t0 := time.Now()
	m, err := lm.Load(*dir, gotch.CPU, kind)
	if err != nil {
		return err
	}
	defer m.Close()
	r.LoadS = time.Since(t0).Seconds()
	r.RSSAfterLoad = procStatus("VmRSS")
	r.PeakRSSLoad = procStatus("VmHWM")
	r.PeakReset = resetPeak()

	c := m.Config()
	r.Layers = c.Layers
	if r.WeightsBytes, err = weightBytes(*dir, kind); err != nil {
		return err
	}
	r.KVBytes = int64(c.Layers) * 2 * int64(*batch) * int64(c.KV) * int64(*prompt+*newTok-1) * int64(c.Dh) * int64(kind.Size())

	prompts := promptIDs(*seed, *batch, *prompt, c.Vocab)
	if err := warmUp(m, prompts, *warmup); err != nil {
		return err
	}
	if *cpuprofile != "" {
		stop, err := startProfile(*cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	best1, bestN, err := timeRepeats(m, prompts, *newTok, *repeat, &r)
	if err != nil {
		return err
	}
	r.PeakRSSRun = procStatus("VmHWM")
	r.PeakRSS = max(r.PeakRSSLoad, r.PeakRSSRun)
	r.PrefillS = best1
	r.DecodeStepS = (bestN - best1) / float64(*newTok-1)
	r.PrefillTokS = float64(*batch**prompt) / r.PrefillS
	r.DecodeTokS = float64(*batch) / r.DecodeStepS
	js, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fmt.Println(string(js))
	return nil
}

// parseKind returns the tensor kind --dtype names.
func parseKind(dtype string) (raw.Kind, error) {
	switch dtype {
	case "float32":
		return raw.Float32, nil
	case "bfloat16":
		return raw.BFloat16, nil
	}
	var none raw.Kind
	return none, fmt.Errorf("run: --dtype %q: want float32 or bfloat16", dtype)
}

// warmUp runs n untimed generations of two tokens from the first prompt's first token, taking
// the first calls' one-time costs (kernels, allocator) out of the timings.
func warmUp(m *lm.Model, prompts [][]int, n int) error {
	for i := 0; i < n; i++ {
		if _, err := m.Generate([][]int{prompts[0][:1]}, hf.GenerateOptions{MaxNew: 2}); err != nil {
			return err
		}
	}
	return nil
}

// startProfile starts a Go CPU profile written to path; stop ends it and closes the file.
func startProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// timeRepeats times repeat rounds of Generate(1) then Generate(newTok) on prompts, recording
// each call's time and minor page faults and the tokens in r, and returns the best (least)
// time of each. Every round must generate the same tokens.
func timeRepeats(m *lm.Model, prompts [][]int, newTok, repeat int, r *result) (best1, bestN float64, err error) {
	best1, bestN = math.Inf(1), math.Inf(1)
	for i := 0; i < repeat; i++ {
		f0 := minorFaults()
		t := time.Now()
		if _, err := m.Generate(prompts, hf.GenerateOptions{MaxNew: 1}); err != nil {
			return 0, 0, err
		}
		d1 := time.Since(t).Seconds()
		f1 := minorFaults()
		t = time.Now()
		toks, err := m.Generate(prompts, hf.GenerateOptions{MaxNew: newTok})
		if err != nil {
			return 0, 0, err
		}
		dN := time.Since(t).Seconds()
		fN := minorFaults()
		r.Gen1S, r.GenNS = append(r.Gen1S, d1), append(r.GenNS, dN)
		r.Gen1Faults, r.GenNFaults = append(r.Gen1Faults, f1-f0), append(r.GenNFaults, fN-f1)
		best1, bestN = math.Min(best1, d1), math.Min(bestN, dN)
		if i == 0 {
			r.Tokens = toks
		} else if !sameTokens(r.Tokens, toks) {
			return 0, 0, fmt.Errorf("run: repeat %d generated other tokens than repeat 1", i+1)
		}
	}
	return best1, bestN, nil
}

// promptIDs returns B rows of P token ids: splitmix64's outputs from seed, modulo vocab.
func promptIDs(seed uint64, B, P, vocab int) [][]int {
	s := seed
	out := make([][]int, B)
	for b := range out {
		out[b] = make([]int, P)
		for t := range out[b] {
			s += 0x9E3779B97F4A7C15
			z := s
			z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
			z = (z ^ (z >> 27)) * 0x94D049BB133111EB
			z ^= z >> 31
			out[b][t] = int(z % uint64(vocab))
		}
	}
	return out
}

// sameTokens reports whether a and b hold the same token rows.
func sameTokens(a, b [][]int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}
