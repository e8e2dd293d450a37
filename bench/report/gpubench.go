package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

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
	peak := findPeak(gpuName)
	for _, size := range []string{"world", "wide"} {
		cfgDir := initDir
		if size == "wide" {
			cfgDir = filepath.Join(dir, "wide-sft")
		}
		sz := benchSize(dir, size, readModel(cfgDir), warm, peak)
		if sz == nil {
			continue
		}
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

// findPeak returns the peak of the card gpuName names (nvidia-smi's name); nil for an unknown card.
func findPeak(gpuName string) *gpuPeak {
	for i := range gpuPeaks {
		if strings.Contains(gpuName, gpuPeaks[i].name) {
			return &gpuPeaks[i]
		}
	}
	return nil
}

// readModel returns the model's configuration in dir/config.json (under "model" or "Model"); nil
// when there is none.
func readModel(dir string) map[string]any {
	var cfg map[string]any
	if js, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil {
		json.Unmarshal(js, &cfg)
	}
	model, _ := cfg["model"].(map[string]any)
	if model == nil {
		model, _ = cfg["Model"].(map[string]any)
	}
	return model
}

// benchSize reads both sides of one size (dir/SIZE-go-*, dir/SIZE-torch-*) and their ratios; nil
// when neither side has measured steps.
func benchSize(dir, size string, model map[string]any, warm int, peak *gpuPeak) *GPUSize {
	sz := &GPUSize{}
	for _, side := range []string{"go", "torch"} {
		rows := sideRows(dir, size+"-"+side, warm)
		if len(rows) == 0 {
			continue
		}
		s := sideSummary(rows, model, peak)
		if side == "go" {
			sz.Go = s
		} else {
			sz.Torch = s
		}
	}
	if sz.Go == nil && sz.Torch == nil {
		return nil
	}
	if sz.Go != nil && sz.Torch != nil && nonzero(sz.Go.StepTimeS) && sz.Torch.StepTimeS != nil {
		g, t := sz.Go, sz.Torch
		sz.TorchOverGo = ptr(*t.StepTimeS / *g.StepTimeS)
		if nonzero(g.Tokens) && nonzero(t.Tokens) {
			sz.TorchOverGoPerToken = ptr((*t.StepTimeS / *t.Tokens) / (*g.StepTimeS / *g.Tokens))
		}
	}
	sz.Model = model
	return sz
}

// sideRows returns the timed steps of the runs dir/PREFIX-* (folders holding metrics.jsonl, or
// JSONL files), in name order, each run's first warm steps left out.
func sideRows(dir, prefix string, warm int) []map[string]any {
	matches, _ := filepath.Glob(filepath.Join(dir, prefix+"-*"))
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
	return rows
}

// sideSummary takes the medians of one side's rows (not empty) and, given the model, the
// update's FLOPs and, given the card's peak, its MFU.
func sideSummary(rows []map[string]any, model map[string]any, peak *gpuPeak) *GPUSide {
	med := func(k string) *float64 { return medianOf(rows, k) }
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
	return s
}

// medianOf is the median of key over the rows that carry it as a number; nil when none does.
func medianOf(rows []map[string]any, key string) *float64 {
	var xs []float64
	for _, r := range rows {
		if v, ok := number(r, key); ok {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return nil
	}
	m := median(xs)
	return &m
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }

// nonzero reports whether v is set and not zero.
func nonzero(v *float64) bool { return v != nil && *v != 0 }
