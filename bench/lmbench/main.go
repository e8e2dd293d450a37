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
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/lm"
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
	fmt.Fprintln(os.Stderr, "usage: lmbench init --out DIR [--layers N ...] | lmbench run --model DIR --dtype float32|bfloat16 [--batch 8 --prompt 64 --new 16 --repeat 2]")
	os.Exit(2)
}

// --- init ----------------------------------------------------------------------------------------

type shape struct {
	Layers, Hidden, Inter, Heads, KV, HeadDim, Vocab int
}

// tensorSpec is one tensor of the model in the order it is written.
type tensorSpec struct {
	name  string
	shape []int64
	ones  bool // a norm weight: all ones
}

// specs lists the tensors of a Qwen2 model with a tied head (no lm_head.weight), in the order
// models/hf/lm loads them.
func (s shape) specs() []tensorSpec {
	D, F, V := int64(s.Hidden), int64(s.Inter), int64(s.Vocab)
	Hq, Hkv := int64(s.Heads*s.HeadDim), int64(s.KV*s.HeadDim)
	out := []tensorSpec{{name: "model.embed_tokens.weight", shape: []int64{V, D}}}
	for l := 0; l < s.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		out = append(out,
			tensorSpec{name: p + "input_layernorm.weight", shape: []int64{D}, ones: true},
			tensorSpec{name: p + "self_attn.q_proj.weight", shape: []int64{Hq, D}},
			tensorSpec{name: p + "self_attn.q_proj.bias", shape: []int64{Hq}},
			tensorSpec{name: p + "self_attn.k_proj.weight", shape: []int64{Hkv, D}},
			tensorSpec{name: p + "self_attn.k_proj.bias", shape: []int64{Hkv}},
			tensorSpec{name: p + "self_attn.v_proj.weight", shape: []int64{Hkv, D}},
			tensorSpec{name: p + "self_attn.v_proj.bias", shape: []int64{Hkv}},
			tensorSpec{name: p + "self_attn.o_proj.weight", shape: []int64{D, Hq}},
			tensorSpec{name: p + "post_attention_layernorm.weight", shape: []int64{D}, ones: true},
			tensorSpec{name: p + "mlp.gate_proj.weight", shape: []int64{F, D}},
			tensorSpec{name: p + "mlp.up_proj.weight", shape: []int64{F, D}},
			tensorSpec{name: p + "mlp.down_proj.weight", shape: []int64{D, F}},
		)
	}
	return append(out, tensorSpec{name: "model.norm.weight", shape: []int64{D}, ones: true})
}

func count(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

func runInit(args []string) error {
	fs := pflag.NewFlagSet("init", pflag.ExitOnError)
	out := fs.String("out", "", "model folder to write (config.json, model.safetensors)")
	var s shape
	fs.IntVar(&s.Layers, "layers", 24, "decoder layers")
	fs.IntVar(&s.Hidden, "hidden", 896, "hidden size")
	fs.IntVar(&s.Inter, "intermediate", 4864, "MLP intermediate size")
	fs.IntVar(&s.Heads, "heads", 14, "attention heads")
	fs.IntVar(&s.KV, "kv-heads", 2, "key/value heads")
	fs.IntVar(&s.HeadDim, "head-dim", 64, "head size")
	fs.IntVar(&s.Vocab, "vocab", 151936, "vocabulary size")
	seed := fs.Uint64("seed", 1, "seed of the weights")
	std := fs.Float64("std", 0.02, "standard deviation of the weights and biases (norms are 1)")
	_ = fs.Parse(args)
	if *out == "" {
		return fmt.Errorf("init: --out is required")
	}
	if s.Layers < 1 || s.Hidden < 1 || s.Inter < 1 || s.Heads < 1 || s.KV < 1 || s.HeadDim < 2 || s.Vocab < 1 || s.Heads%s.KV != 0 {
		return fmt.Errorf("init: bad shape %+v", s)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	cfg := map[string]any{
		"architectures":           []string{"Qwen2ForCausalLM"},
		"model_type":              "qwen2",
		"hidden_act":              "silu",
		"hidden_size":             s.Hidden,
		"intermediate_size":       s.Inter,
		"num_hidden_layers":       s.Layers,
		"num_attention_heads":     s.Heads,
		"num_key_value_heads":     s.KV,
		"vocab_size":              s.Vocab,
		"max_position_embeddings": 32768,
		"rms_norm_eps":            1e-6,
		"rope_theta":              1e6,
		"tie_word_embeddings":     true,
		"use_sliding_window":      false,
		"attention_dropout":       0.0,
		"initializer_range":       *std,
		"bos_token_id":            151643,
		"eos_token_id":            151643,
		"torch_dtype":             "float32",
		"use_cache":               true,
	}
	if s.HeadDim*s.Heads != s.Hidden {
		cfg["head_dim"] = s.HeadDim
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(*out, "config.json"), func(w *bufio.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	}); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(*out, "model.safetensors"), func(w *bufio.Writer) error {
		return writeWeights(w, s.specs(), *seed, *std)
	})
}

// writeWeights streams a safetensors file: the header, then each tensor's float32 values drawn
// chunk by chunk (N(0, std), or ones for norms), so that no tensor is ever held whole.
func writeWeights(w *bufio.Writer, specs []tensorSpec, seed uint64, std float64) error {
	type entry struct {
		DType   string   `json:"dtype"`
		Shape   []int64  `json:"shape"`
		Offsets [2]int64 `json:"data_offsets"`
	}
	head := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var off int64
	for _, t := range specs {
		n := 4 * count(t.shape)
		head[t.name] = entry{DType: "F32", Shape: t.shape, Offsets: [2]int64{off, off + n}}
		off += n
	}
	js, err := json.Marshal(head)
	if err != nil {
		return err
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	var n8 [8]byte
	binary.LittleEndian.PutUint64(n8[:], uint64(len(js)))
	if _, err := w.Write(append(n8[:], js...)); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6c6d62656e6368)) // "lmbench"
	one := math.Float32bits(1)
	var b [4]byte
	for _, t := range specs {
		for i := count(t.shape); i > 0; i-- {
			v := one
			if !t.ones {
				v = math.Float32bits(float32(rng.NormFloat64() * std))
			}
			binary.LittleEndian.PutUint32(b[:], v)
			if _, err := w.Write(b[:]); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeAtomic writes path through a temporary file in its folder, renamed into place when
// complete.
func writeAtomic(path string, fill func(*bufio.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op after the rename
	w := bufio.NewWriterSize(f, 4<<20)
	err = fill(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// --- run -----------------------------------------------------------------------------------------

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
	var kind raw.Kind
	switch *dtype {
	case "float32":
		kind = raw.Float32
	case "bfloat16":
		kind = raw.BFloat16
	default:
		return fmt.Errorf("run: --dtype %q: want float32 or bfloat16", *dtype)
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
	for i := 0; i < *warmup; i++ { // the first calls' one-time costs (kernels, allocator) out of the timings
		if _, err := m.Generate([][]int{prompts[0][:1]}, hf.GenerateOptions{MaxNew: 2}); err != nil {
			return err
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	best1, bestN := math.Inf(1), math.Inf(1)
	for i := 0; i < *repeat; i++ {
		f0 := minorFaults()
		t := time.Now()
		if _, err := m.Generate(prompts, hf.GenerateOptions{MaxNew: 1}); err != nil {
			return err
		}
		d1 := time.Since(t).Seconds()
		f1 := minorFaults()
		t = time.Now()
		toks, err := m.Generate(prompts, hf.GenerateOptions{MaxNew: *newTok})
		if err != nil {
			return err
		}
		dN := time.Since(t).Seconds()
		fN := minorFaults()
		r.Gen1S, r.GenNS = append(r.Gen1S, d1), append(r.GenNS, dN)
		r.Gen1Faults, r.GenNFaults = append(r.Gen1Faults, f1-f0), append(r.GenNFaults, fN-f1)
		best1, bestN = math.Min(best1, d1), math.Min(bestN, dN)
		if i == 0 {
			r.Tokens = toks
		} else if !sameTokens(r.Tokens, toks) {
			return fmt.Errorf("run: repeat %d generated other tokens than repeat 1", i+1)
		}
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

// weightBytes sums the tensors of dir/model.safetensors as kind (its header only is read).
func weightBytes(dir string, kind raw.Kind) (int64, error) {
	f, err := os.Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n8 [8]byte
	if _, err := f.ReadAt(n8[:], 0); err != nil {
		return 0, err
	}
	js := make([]byte, binary.LittleEndian.Uint64(n8[:]))
	if _, err := f.ReadAt(js, 8); err != nil {
		return 0, err
	}
	var head map[string]json.RawMessage
	if err := json.Unmarshal(js, &head); err != nil {
		return 0, err
	}
	var total int64
	for name, e := range head {
		if name == "__metadata__" {
			continue
		}
		var t struct {
			Shape []int64 `json:"shape"`
		}
		if err := json.Unmarshal(e, &t); err != nil {
			return 0, err
		}
		total += count(t.Shape) * int64(kind.Size())
	}
	return total, nil
}

// procStatus reads a memory line of /proc/self/status (kB) in bytes; 0 when absent.
func procStatus(key string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// minorFaults is the process's minor page faults so far (fresh memory touched, mostly).
func minorFaults() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Minflt
}

// resetPeak resets VmHWM to the current RSS (Linux 4.0+: "5" to /proc/self/clear_refs).
func resetPeak() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

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
