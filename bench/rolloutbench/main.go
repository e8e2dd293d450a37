// Command rolloutbench times the GRPO rollout of a Qwen2.5-VL policy (models/hf/qwenvl's Sample:
// the vision tower and the prompt's prefill once per image, sampling on the device, the
// preallocated key/value cache): B random images x G samples of exactly --new tokens each
// (--min-len = --max-len: equal work for every row), on the CPU or a GPU. The GPU check
// scripts/gpu/checks/rollout3b.sh runs it against transformers.generate on the same weights
// (bench/torch/rollout3b.py).
//
//	rolloutbench --model DIR [--device cuda --dtype bfloat16 --batch 8 --group 8 --new 64 --size 448]
//
// It prints one JSON line: rollout_tok_s (B*G*new / the least of --repeat rollouts), the prefill
// (a rollout of one token), the decode step ((rollout - prefill) / (new-1)), the bytes of the
// language model's weights (what a decode step must read at least once) and, with --bandwidth
// (the device's peak memory bandwidth in GB/s), the fraction of it a decode step achieves reading
// those weights: weight bytes / decode step / bandwidth.
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/qwenvl"
	"github.com/unigrpo/unigrpo/models/policy"
)

type result struct {
	Side        string    `json:"side"`
	Device      string    `json:"device"`
	DType       string    `json:"dtype"`
	Batch       int       `json:"batch"` // images
	Group       int       `json:"group"` // samples per image
	New         int       `json:"new"`
	Size        int       `json:"size"`
	RolloutS    []float64 `json:"rollout_s"`
	PrefillS    float64   `json:"prefill_s"`
	DecodeStepS float64   `json:"decode_step_s"`
	RolloutTokS float64   `json:"rollout_tok_s"`
	LMBytes     int64     `json:"lm_weight_bytes"`
	Bandwidth   float64   `json:"bandwidth_gbs,omitempty"`
	BWFraction  float64   `json:"weight_read_bw_fraction,omitempty"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rolloutbench:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := pflag.NewFlagSet("rolloutbench", pflag.ExitOnError)
	dir := fs.String("model", "", "Qwen2.5-VL model folder (config, weights, tokenizer, preprocessor config)")
	device := fs.String("device", "cpu", "cpu or cuda")
	dtype := fs.String("dtype", "bfloat16", "float32 or bfloat16")
	B := fs.Int("batch", 8, "images")
	G := fs.Int("group", 8, "samples per image")
	newTok := fs.Int("new", 64, "tokens sampled per row (every row samples exactly this many)")
	size := fs.Int("size", 448, "image side in pixels")
	repeat := fs.Int("repeat", 2, "timed rollouts (the least is kept)")
	bw := fs.Float64("bandwidth", 0, "the device's peak memory bandwidth in GB/s (0: no fraction)")
	_ = fs.Parse(os.Args[1:])
	if *dir == "" || *B < 1 || *G < 1 || *newTok < 2 || *size < 28 || *repeat < 1 {
		fmt.Fprintln(os.Stderr, "rolloutbench: need --model, positive --batch, --group and --repeat, --new of at least 2, --size of at least 28")
		os.Exit(2)
	}
	kind := raw.BFloat16
	if *dtype == "float32" {
		kind = raw.Float32
	} else if *dtype != "bfloat16" {
		fmt.Fprintf(os.Stderr, "rolloutbench: --dtype %q: want float32 or bfloat16\n", *dtype)
		os.Exit(2)
	}
	dev := gotch.CPU
	switch *device {
	case "cuda":
		if !gotch.CUDA.IsAvailable() {
			return fmt.Errorf("--device cuda: no CUDA device is usable here")
		}
		dev = gotch.CudaBuilder(0)
	case "cpu":
	default:
		fmt.Fprintf(os.Stderr, "rolloutbench: --device %q: want cpu or cuda\n", *device)
		os.Exit(2)
	}
	runtime.LockOSThread()
	chat, err := hf.ImageChatPrompt("qwen2_5_vl", "Describe the image.")
	if err != nil {
		return err
	}
	p, err := qwenvl.NewPolicy(*dir, dev, kind, chat, *size, *newTok, false)
	if err != nil {
		return err
	}
	defer p.Close()
	r := result{Side: "go", Device: *device, DType: *dtype, Batch: *B, Group: *G, New: *newTok, Size: *size, Bandwidth: *bw}
	for name, t := range p.Model.Tensors() { // the language model's: a decode step reads each once
		if !strings.HasPrefix(name, "visual.") {
			r.LMBytes += raw.Bytes(t)
		}
	}
	pix := rand.New(rand.NewPCG(1, 2))
	imgs := make([]images.Planar, *B)
	for i := range imgs {
		imgs[i] = images.NewPlanar(3, *size, *size)
		for j := range imgs[i].Pix {
			imgs[i].Pix[j] = pix.Float32()
		}
	}
	sample := func(i, n int) (float64, error) {
		rngs := make([]*rand.Rand, *B**G)
		for g := range rngs {
			rngs[g] = rand.New(rand.NewPCG(uint64(i), uint64(g)))
		}
		t := time.Now()
		roll, err := p.Sample(imgs, *G, policy.SampleOptions{Temperature: 1, MinLen: n, MaxLen: n}, rngs)
		if err != nil {
			return 0, err
		}
		d := time.Since(t).Seconds() // Sample returns host results: the device is done
		for row, l := range roll.Lengths {
			if l != n {
				return 0, fmt.Errorf("row %d sampled %d tokens, want %d (unequal work)", row, l, n)
			}
		}
		return d, nil
	}
	if _, err := sample(-1, 2); err != nil { // warm-up
		return err
	}
	r.PrefillS = math.Inf(1)
	best := math.Inf(1)
	for i := range *repeat {
		d1, err := sample(2*i, 1)
		if err != nil {
			return err
		}
		dN, err := sample(2*i+1, *newTok)
		if err != nil {
			return err
		}
		r.RolloutS = append(r.RolloutS, dN)
		r.PrefillS, best = math.Min(r.PrefillS, d1), math.Min(best, dN)
	}
	r.DecodeStepS = (best - r.PrefillS) / float64(*newTok-1)
	r.RolloutTokS = float64(*B**G**newTok) / best
	if *bw > 0 && r.DecodeStepS > 0 {
		r.BWFraction = float64(r.LMBytes) / r.DecodeStepS / (*bw * 1e9)
	}
	js, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fmt.Println(string(js))
	return nil
}
