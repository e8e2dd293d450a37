package main

// `report gpu`: the report of the GPU kit's run (scripts/gpu/run.sh), gpu-report.json and
// gpu-report.md, from the run's scratch folder. The kit carries this command prebuilt (it is pure
// Go), so a GPU host without Go writes its own report. It reads, under --work (a missing part
// leaves its section out):
//
//	steps.jsonl                  {"step","status","seconds","note"}, one line per step of run.sh
//	logs/gpucheck.log            gpucheck's output: NCCL, CUDA runtime, one-rank all-reduce, NVML
//	libtorch.json, gotch-prep.json   the libtorch found and the build of gotch's C++ layer
//	run/NAME/metrics.jsonl       the training runs (sft, grpo-np1, grpo-np2, and the CPU twins *-cpu)
//	bench/settings.json          scripts/gpu/bench.sh's settings (warm-up steps, device, wide size)
//	bench/SIZE-go-N/metrics.jsonl, bench/SIZE-torch-N.jsonl   the Go and PyTorch-twin GRPO runs
//
// The JSON keeps the layout of the reports in bench/gpu/, so `report gpu --from FILE` renders
// those again.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"
)

// GPUReport is gpu-report.json.
type GPUReport struct {
	Mode      string          `json:"mode"`
	Seconds   float64         `json:"seconds"`
	Machine   GPUMachine      `json:"machine"`
	Steps     []GPUStep       `json:"steps"`
	AllPassed bool            `json:"all_passed"`
	GPUCheck  *GPUCheck       `json:"gpucheck"`
	Libtorch  json.RawMessage `json:"libtorch"` // libtorch.json as run.sh wrote it
	Build     json.RawMessage `json:"build"`    // gotch-prep.json as gotch-prep.py wrote it
	Training  *GPUTraining    `json:"training"`
	Bench     *GPUBench       `json:"bench,omitempty"`
}

// GPUMachine describes the host the report was written on.
type GPUMachine struct {
	Host   string `json:"host"`
	Kernel string `json:"kernel"`
	Cores  int    `json:"cores"`
	Python string `json:"python"`
	Date   string `json:"date"`
	GPU    string `json:"gpu"`   // nvidia-smi's name, driver, memory
	Torch  string `json:"torch"` // python3's torch version and CUDA version
	CPU    string `json:"cpu"`
}

// GPUStep is one step of run.sh: pass, fail, timeout or skip.
type GPUStep struct {
	Step    string  `json:"step"`
	Status  string  `json:"status"`
	Seconds float64 `json:"seconds"`
	Note    string  `json:"note"`
}

// GPUCheck holds the figures read from gpucheck's output.
type GPUCheck struct {
	Output          string   `json:"output"` // its last 3,000 characters
	NCCLLib         string   `json:"nccl_lib,omitempty"`
	NCCLVersion     string   `json:"nccl_version,omitempty"`
	CUDART          string   `json:"cudart,omitempty"`
	CUDARuntime     string   `json:"cuda_runtime,omitempty"`
	CUDADriver      string   `json:"cuda_driver,omitempty"`
	Devices         *int     `json:"devices,omitempty"`
	OneRankAlgbwGBs *float64 `json:"one_rank_algbw_gbs,omitempty"`
	OneRankBusbwGBs *float64 `json:"one_rank_busbw_gbs,omitempty"`
	OneRankOK       bool     `json:"one_rank_ok"`
	NVML            []string `json:"nvml"`
}

// GPUTraining summarises the training runs and compares the GPU runs with their CPU twins.
type GPUTraining struct {
	Runs     map[string]*RunSummary `json:"runs"`       // nil: a folder without metrics
	CPUvsGPU map[string]*CPUCompare `json:"cpu_vs_gpu"` // "sft", "grpo"; nil: a side is missing
}

// RunSummary is the first and last step of a run and its median step time.
type RunSummary struct {
	Steps           int                `json:"steps"`
	First           map[string]float64 `json:"first"`
	Last            map[string]float64 `json:"last"`
	MedianStepTimeS *float64           `json:"median_step_time_s,omitempty"` // after the first step
	GPUMemUsedMax   *float64           `json:"gpu_mem_used_mib_max,omitempty"`
}

// compareKeys are the metrics compared between a GPU run and its CPU twin, in report order.
var compareKeys = []string{"loss", "reward_mean", "length_mean", "grad_norm", "kl", "entropy"}

// CPUCompare is the largest difference of each metric over the first steps of two runs.
type CPUCompare struct {
	Steps   int
	Metrics []MetricDiff // in the order of compareKeys
}

// MetricDiff is one metric of a CPUCompare.
type MetricDiff struct {
	Name       string
	MaxAbsDiff float64
	FirstStep  [2]*float64 // the first step's value on each side
}

// MarshalJSON writes {"steps": N, "<metric>_max_abs_diff": d, "<metric>_first_step": [a, b], ...}.
func (c CPUCompare) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"steps":%d`, c.Steps)
	for _, m := range c.Metrics {
		d, err := json.Marshal(Num(m.MaxAbsDiff))
		if err != nil {
			return nil, err
		}
		f, err := json.Marshal(m.FirstStep)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, `,"%s_max_abs_diff":%s,"%s_first_step":%s`, m.Name, d, m.Name, f)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *CPUCompare) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*c = CPUCompare{}
	if s, ok := raw["steps"]; ok {
		if err := json.Unmarshal(s, &c.Steps); err != nil {
			return err
		}
	}
	for _, k := range compareKeys {
		d, ok := raw[k+"_max_abs_diff"]
		if !ok {
			continue
		}
		m := MetricDiff{Name: k}
		if err := json.Unmarshal(d, &m.MaxAbsDiff); err != nil {
			return err
		}
		if f, ok := raw[k+"_first_step"]; ok {
			if err := json.Unmarshal(f, &m.FirstStep); err != nil {
				return err
			}
		}
		c.Metrics = append(c.Metrics, m)
	}
	return nil
}

// GPUBench is the GRPO step of the Go trainer against its PyTorch twin (scripts/gpu/bench.sh).
type GPUBench struct {
	Settings map[string]any `json:"settings"` // bench/settings.json as written
	Sizes    GPUSizes       `json:"sizes"`
	// Targets maps each of gpuTargets to met (true), missed (false) or not measured (null).
	Targets map[string]*bool `json:"targets"`
}

// GPUSizes are the two sizes of the benchmark.
type GPUSizes struct {
	World *GPUSize `json:"world,omitempty"`
	Wide  *GPUSize `json:"wide,omitempty"`
}

// GPUSize is one size: each side, their ratios and the model's configuration.
type GPUSize struct {
	Go    *GPUSide `json:"go,omitempty"`
	Torch *GPUSide `json:"torch,omitempty"`
	// TorchOverGo is the twin's median step time over Go's; per token, each divided by its
	// sampled tokens (the two sides sample different captions).
	TorchOverGo         *float64       `json:"torch_over_go_step_time,omitempty"`
	TorchOverGoPerToken *float64       `json:"torch_over_go_step_time_per_token,omitempty"`
	Model               map[string]any `json:"model"`
}

// GPUSide is one side's medians over its measured steps (every round, warm-up steps left out).
type GPUSide struct {
	Steps             int      `json:"steps"`
	StepTimeS         *float64 `json:"step_time_s"`
	RolloutTimeS      *float64 `json:"rollout_time_s"`
	RewardTimeS       *float64 `json:"reward_time_s"`
	UpdateTimeS       *float64 `json:"update_time_s"`
	Tokens            *float64 `json:"tokens"`
	RolloutTokensPerS *float64 `json:"rollout_tokens_per_s,omitempty"`
	UpdateFLOPs       *float64 `json:"update_flops,omitempty"`
	UpdateMFUFP32     *float64 `json:"update_mfu_fp32,omitempty"`
	UpdateMFUBF16     *float64 `json:"update_mfu_bf16,omitempty"`
}

// gpuTargets are the benchmark's targets, in report order.
var gpuTargets = []string{"world: Go at least 1.5x faster than the twin", "wide: Go not slower than the twin"}

// gpuPeak is a card's dense peak FLOP/s (NVIDIA's data sheets, SXM parts, without sparsity).
type gpuPeak struct {
	name       string
	fp32, bf16 float64
}

var gpuPeaks = []gpuPeak{{"H100", 67e12, 989.4e12}, {"H200", 67e12, 989.4e12}}

// runGPU is `report gpu`; it returns the exit status.
func runGPU(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report gpu", flag.ContinueOnError)
	fs.SetOutput(stderr)
	work := fs.String("work", "", "scratch folder of scripts/gpu/run.sh (GPU_RUN_WORK)")
	out := fs.String("out", "", "folder to write gpu-report.json and gpu-report.md into")
	mode := fs.String("mode", "", "gpu or rehearse")
	seconds := fs.Float64("seconds", 0, "seconds the whole run took")
	from := fs.String("from", "", "print the markdown of an existing gpu-report.json instead")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: report gpu --work DIR --out DIR --mode gpu|rehearse [--seconds S]\n       report gpu --from gpu-report.json")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "report gpu: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *from != "" {
		if *work != "" || *out != "" {
			fmt.Fprintln(stderr, "report gpu: --from goes alone")
			return 2
		}
		js, err := os.ReadFile(*from)
		if err != nil {
			fmt.Fprintln(stderr, "report gpu:", err)
			return 1
		}
		var r GPUReport
		if err := json.Unmarshal(js, &r); err != nil {
			fmt.Fprintf(stderr, "report gpu: %s: %v\n", *from, err)
			return 1
		}
		fmt.Fprint(stdout, gpuMarkdown(&r))
		return 0
	}
	if *work == "" || *out == "" || (*mode != "gpu" && *mode != "rehearse") {
		fmt.Fprintln(stderr, "report gpu: --work, --out and --mode (gpu or rehearse) are required")
		fs.Usage()
		return 2
	}
	r := buildGPU(*work, *mode, *seconds, probeMachine())
	js, err := json.MarshalIndent(r, "", " ")
	if err == nil {
		err = writeFileAtomic(filepath.Join(*out, "gpu-report.json"), append(js, '\n'))
	}
	md := gpuMarkdown(r)
	if err == nil {
		err = writeFileAtomic(filepath.Join(*out, "gpu-report.md"), []byte(md))
	}
	if err != nil {
		fmt.Fprintln(stderr, "report gpu:", err)
		return 1
	}
	fmt.Fprintln(stdout, md)
	return 0
}

// buildGPU reads every part of the run that exists under work.
func buildGPU(work, mode string, seconds float64, m GPUMachine) *GPUReport {
	r := &GPUReport{Mode: mode, Seconds: seconds, Machine: m}
	for _, row := range readJSONLines(filepath.Join(work, "steps.jsonl")) {
		var s GPUStep
		if js, err := json.Marshal(row); err == nil && json.Unmarshal(js, &s) == nil {
			r.Steps = append(r.Steps, s)
		}
	}
	r.AllPassed = len(r.Steps) > 0
	for _, s := range r.Steps {
		r.AllPassed = r.AllPassed && s.Status == "pass"
	}
	r.GPUCheck = readGPUCheck(filepath.Join(work, "logs", "gpucheck.log"))
	r.Libtorch = readRawJSON(filepath.Join(work, "libtorch.json"))
	r.Build = readRawJSON(filepath.Join(work, "gotch-prep.json"))
	runDir := filepath.Join(work, "run")
	t := &GPUTraining{Runs: map[string]*RunSummary{}, CPUvsGPU: map[string]*CPUCompare{}}
	if names, err := os.ReadDir(runDir); err == nil {
		for _, n := range names {
			t.Runs[n.Name()] = summariseRun(filepath.Join(runDir, n.Name()))
		}
	}
	t.CPUvsGPU["sft"] = compareRuns(filepath.Join(runDir, "sft"), filepath.Join(runDir, "sft-cpu"), 5)
	t.CPUvsGPU["grpo"] = compareRuns(filepath.Join(runDir, "grpo-np1"), filepath.Join(runDir, "grpo-np1-cpu"), 5)
	r.Training = t
	if st, err := os.Stat(filepath.Join(work, "bench")); err == nil && st.IsDir() {
		r.Bench = benchGPU(filepath.Join(work, "bench"), filepath.Join(runDir, "sft"), m.GPU)
	}
	return r
}

// readJSONLines returns the lines of path that are JSON objects; others (log lines) are skipped.
func readJSONLines(path string) []map[string]any {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var rows []map[string]any
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var row map[string]any
		if json.Unmarshal([]byte(line), &row) == nil {
			rows = append(rows, row)
		}
	}
	return rows
}

// readRawJSON returns the file's JSON as it is, or nil (null) when it is missing or not JSON.
func readRawJSON(path string) json.RawMessage {
	data, err := os.ReadFile(path)
	if err != nil || !json.Valid(data) {
		return nil
	}
	return json.RawMessage(bytes.TrimSpace(data))
}

func number(row map[string]any, key string) (float64, bool) {
	v, ok := row[key].(float64)
	return v, ok
}

// withKey keeps the rows that carry key.
func withKey(rows []map[string]any, key string) []map[string]any {
	var out []map[string]any
	for _, r := range rows {
		if _, ok := r[key]; ok {
			out = append(out, r)
		}
	}
	return out
}

// median of xs (the mean of the middle two for an even count); xs must not be empty.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

var (
	ncclLoaded   = regexp.MustCompile(`nccl: loaded (\S+) \(NCCL ([\d.]+)`)
	cudaLoaded   = regexp.MustCompile(`cuda: loaded (\S+) \(runtime (\S+), driver (\S+)\), (\d+) device`)
	oneRankLine  = regexp.MustCompile(`one-rank all-reduce.*?: ok.*?algbw ([\d.]+) GB/s, busbw ([\d.]+) GB/s`)
	nvmlReadings = regexp.MustCompile(`(?m)^nvml: .*$`)
)

// readGPUCheck reads gpucheck's output; nil when there is none.
func readGPUCheck(path string) *GPUCheck {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	text := string(data)
	tail := []rune(text)
	if len(tail) > 3000 {
		tail = tail[len(tail)-3000:]
	}
	g := &GPUCheck{Output: string(tail), NVML: []string{}}
	if m := ncclLoaded.FindStringSubmatch(text); m != nil {
		g.NCCLLib, g.NCCLVersion = m[1], m[2]
	}
	if m := cudaLoaded.FindStringSubmatch(text); m != nil {
		g.CUDART, g.CUDARuntime, g.CUDADriver = m[1], m[2], m[3]
		var n int
		fmt.Sscan(m[4], &n)
		g.Devices = &n
	}
	if m := oneRankLine.FindStringSubmatch(text); m != nil {
		var a, b float64
		fmt.Sscan(m[1], &a)
		fmt.Sscan(m[2], &b)
		g.OneRankAlgbwGBs, g.OneRankBusbwGBs = &a, &b
	}
	g.OneRankOK = strings.Contains(text, "one-rank all-reduce") && strings.Contains(text, ": ok")
	g.NVML = append(g.NVML, nvmlReadings.FindAllString(text, -1)...)
	return g
}

// summariseRun summarises dir/metrics.jsonl; nil when it has no steps.
func summariseRun(dir string) *RunSummary {
	rows := withKey(readJSONLines(filepath.Join(dir, "metrics.jsonl")), "step")
	if len(rows) == 0 {
		return nil
	}
	keys := []string{"loss", "reward_mean", "length_mean", "grad_norm", "step_time"}
	pick := func(row map[string]any) map[string]float64 {
		out := map[string]float64{}
		for _, k := range keys {
			if v, ok := number(row, k); ok {
				out[k] = v
			}
		}
		return out
	}
	s := &RunSummary{Steps: len(rows), First: pick(rows[0]), Last: pick(rows[len(rows)-1])}
	var st []float64
	for _, r := range rows[1:] {
		if v, ok := number(r, "step_time"); ok {
			st = append(st, v)
		}
	}
	if len(st) > 0 {
		m := median(st)
		s.MedianStepTimeS = &m
	}
	mem := math.Inf(-1)
	for _, r := range rows {
		for k := range r {
			if v, ok := number(r, k); ok && strings.HasPrefix(k, "gpu") && strings.HasSuffix(k, "mem_used_mib") {
				mem = math.Max(mem, v)
			}
		}
	}
	if !math.IsInf(mem, -1) {
		s.GPUMemUsedMax = &mem
	}
	return s
}

// compareRuns compares the first n steps of two runs (a GPU run and its CPU twin); nil when
// either has none.
func compareRuns(aDir, bDir string, n int) *CPUCompare {
	a := withKey(readJSONLines(filepath.Join(aDir, "metrics.jsonl")), "step")
	b := withKey(readJSONLines(filepath.Join(bDir, "metrics.jsonl")), "step")
	a, b = a[:min(n, len(a))], b[:min(n, len(b))]
	if len(a) == 0 || len(b) == 0 {
		return nil
	}
	c := &CPUCompare{Steps: min(len(a), len(b))}
	for _, k := range compareKeys {
		found, worst := false, 0.0
		for i := 0; i < c.Steps; i++ {
			x, okx := number(a[i], k)
			y, oky := number(b[i], k)
			if okx && oky {
				found, worst = true, math.Max(worst, math.Abs(x-y))
			}
		}
		if !found {
			continue
		}
		m := MetricDiff{Name: k, MaxAbsDiff: worst}
		for i, row := range []map[string]any{a[0], b[0]} {
			if v, ok := number(row, k); ok {
				m.FirstStep[i] = &v
			}
		}
		c.Metrics = append(c.Metrics, m)
	}
	return c
}

// updateFLOPs counts one GRPO update's FLOPs on the language model from its shapes: the reference
// and policy forward passes and the policy's backward (twice a forward) over the sampled tokens,
// plus each image's prefix (the frozen vision encoder left out).
func updateFLOPs(model map[string]any, tokens, images float64) float64 {
	get := func(k string, def float64) float64 {
		if v, ok := model[k].(float64); ok {
			return v
		}
		return def
	}
	d, l, v := get("dim", 0), get("layers", 0), get("vocab", 0)
	r := get("mlp_ratio", 4)
	p := math.Pow(math.Floor(get("image_size", 32)/4), 2)
	perTok := 2 * (l*(4+2*r)*d*d + d*v) // matmuls: q, k, v, o, the MLP, the head
	attn := 4 * l * d * p               // scores and weighted sum against the prefix
	fwd := tokens*(perTok+attn) + images*p*2*l*(4+2*r)*d*d
	return 4 * fwd
}

// benchGPU reads scripts/gpu/bench.sh's runs in dir; initDir is the run whose checkpoint the
// world size starts from (its config.json names the model).
func benchGPU(dir, initDir, gpuName string) *GPUBench {
	b := &GPUBench{Settings: map[string]any{}, Targets: map[string]*bool{}}
	if js, err := os.ReadFile(filepath.Join(dir, "settings.json")); err == nil {
		json.Unmarshal(js, &b.Settings)
	}
	warm := 3
	if v, ok := b.Settings["warmup"].(float64); ok {
		warm = int(v)
	}
	var peak *gpuPeak
	for i := range gpuPeaks {
		if strings.Contains(gpuName, gpuPeaks[i].name) {
			peak = &gpuPeaks[i]
			break
		}
	}
	for _, size := range []string{"world", "wide"} {
		cfgDir := initDir
		if size == "wide" {
			cfgDir = filepath.Join(dir, "wide-sft")
		}
		var cfg map[string]any
		if js, err := os.ReadFile(filepath.Join(cfgDir, "config.json")); err == nil {
			json.Unmarshal(js, &cfg)
		}
		model, _ := cfg["model"].(map[string]any)
		if model == nil {
			model, _ = cfg["Model"].(map[string]any)
		}
		sz := &GPUSize{}
		for _, side := range []string{"go", "torch"} {
			matches, _ := filepath.Glob(filepath.Join(dir, size+"-"+side+"-*"))
			slices.Sort(matches)
			var rows []map[string]any
			for _, f := range matches {
				path := f
				if st, err := os.Stat(f); err == nil && st.IsDir() {
					path = filepath.Join(f, "metrics.jsonl")
				}
				rr := withKey(readJSONLines(path), "step_time")
				rows = append(rows, rr[min(warm, len(rr)):]...)
			}
			if len(rows) == 0 {
				continue
			}
			med := func(k string) *float64 {
				var xs []float64
				for _, r := range rows {
					if v, ok := number(r, k); ok {
						xs = append(xs, v)
					}
				}
				if len(xs) == 0 {
					return nil
				}
				m := median(xs)
				return &m
			}
			s := &GPUSide{Steps: len(rows), StepTimeS: med("step_time"), RolloutTimeS: med("rollout_time"),
				RewardTimeS: med("reward_time"), UpdateTimeS: med("update_time"), Tokens: med("tokens")}
			if nonzero(s.Tokens) && nonzero(s.RolloutTimeS) {
				s.RolloutTokensPerS = ptr(*s.Tokens / *s.RolloutTimeS)
			}
			if model != nil && nonzero(s.Tokens) && nonzero(s.UpdateTimeS) {
				samples, _ := number(rows[0], "samples")
				images := math.Floor(samples / 8) // both sizes sample G = 8 captions per image
				fl := updateFLOPs(model, *s.Tokens, images)
				s.UpdateFLOPs = &fl
				if peak != nil {
					s.UpdateMFUFP32 = ptr(fl / *s.UpdateTimeS / peak.fp32)
					s.UpdateMFUBF16 = ptr(fl / *s.UpdateTimeS / peak.bf16)
				}
			}
			if side == "go" {
				sz.Go = s
			} else {
				sz.Torch = s
			}
		}
		if sz.Go == nil && sz.Torch == nil {
			continue
		}
		if sz.Go != nil && sz.Torch != nil && nonzero(sz.Go.StepTimeS) && sz.Torch.StepTimeS != nil {
			g, t := sz.Go, sz.Torch
			sz.TorchOverGo = ptr(*t.StepTimeS / *g.StepTimeS)
			if nonzero(g.Tokens) && nonzero(t.Tokens) {
				sz.TorchOverGoPerToken = ptr((*t.StepTimeS / *t.Tokens) / (*g.StepTimeS / *g.Tokens))
			}
		}
		sz.Model = model
		if size == "world" {
			b.Sizes.World = sz
		} else {
			b.Sizes.Wide = sz
		}
	}
	// The targets are for a GPU; a rehearsal's toy sizes say nothing about them.
	onGPU := b.Settings["device"] == "cuda"
	target := func(sz *GPUSize, want float64) *bool {
		if !onGPU || sz == nil || sz.TorchOverGo == nil {
			return nil
		}
		return ptr(*sz.TorchOverGo >= want)
	}
	b.Targets[gpuTargets[0]] = target(b.Sizes.World, 1.5)
	b.Targets[gpuTargets[1]] = target(b.Sizes.Wide, 1.0)
	return b
}

func ptr[T any](v T) *T { return &v }

func nonzero(v *float64) bool { return v != nil && *v != 0 }

// probeMachine describes this host: the GPU through nvidia-smi, PyTorch through python3.
func probeMachine() GPUMachine {
	m := GPUMachine{Cores: runtime.NumCPU(), Date: time.Now().Format("2006-01-02 15:04:05 MST")}
	m.Host, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.GPU = command("nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader")
	m.Torch = command("python3", "-c", "import torch; print(torch.__version__, torch.version.cuda)")
	m.Python = command("python3", "-c", "import platform; print(platform.python_version())")
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if _, v, ok := strings.Cut(l, ":"); ok {
					m.CPU = strings.TrimSpace(v)
				}
				break
			}
		}
	}
	return m
}

// command returns a program's standard output, trimmed; empty when it is missing or fails.
func command(name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
