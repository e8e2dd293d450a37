package hf

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/internal/raw"
)

const qwen2Fixture = "testdata/transformers/qwen2"

// loraLogits runs a fixed batch of two rows (one padded) through m and returns its logits.
func loraLogits(t *testing.T, m *Decoder) []float32 {
	t.Helper()
	a := raw.New(m.dev.CInt())
	defer a.Free()
	in := Batch{IDs: [][]int{{5, 17, 200, 3}, {9, 300, 41, 0}}, Pos: [][]int{{0, 1, 2, 3}, {0, 1, 2, 3}}, Mask: [][]int{{1, 1, 1, 1}, {1, 1, 1, 0}}}
	_, lg, err := m.Forward(a, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, Numel(a.Shape(lg)))
	a.CopyToFloat32(a.Contiguous(lg), out)
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// allTargets is a LoRA of every projection the decoder adapts.
func allTargets(rank int) LoRAConfig {
	return LoRAConfig{Rank: rank, Alpha: float64(2 * rank), Targets: LoRATargets()}
}

// randomizeB fills every lora_B with values of about the size training gives them, so that the
// adapters change the outputs.
func randomizeB(t *testing.T, m *Decoder) {
	t.Helper()
	a := raw.New(m.dev.CInt())
	defer a.Free()
	for name, h := range m.LoRATensors() {
		if !strings.Contains(name, ".lora_B.") {
			continue
		}
		shape := a.Shape(h)
		vals := make([]float32, Numel(shape))
		for i := range vals {
			vals[i] = float32(0.05 * math.Sin(float64(3*i+len(name))))
		}
		a.Copy_(h, a.To(a.FromFloat32(vals, shape...), m.kind))
	}
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
}

// With B zero-initialised, the adapted model's logits are the base model's exactly, on every
// target. Oracle: the same decoder's forward before the adapters were added (an earlier path of
// this project, itself checked against transformers in the family packages).
func TestLoRAZeroBIsBase(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := loadDecoder(t, qwen2Fixture)
	base := loraLogits(t, m)
	if err := m.AddLoRA(allTargets(4), 1); err != nil {
		t.Fatal(err)
	}
	if got := loraLogits(t, m); !slices.Equal(got, base) {
		t.Fatal("zero-initialised B changed the logits")
	}
	// A is PEFT's Kaiming-uniform: within +-1/sqrt(in), and not zero.
	a := raw.New(m.dev.CInt())
	defer a.Free()
	A := m.LoRATensors()[PEFTName("model.layers.1.mlp.down_proj.weight", "lora_A")]
	vals := make([]float32, 4*96)
	a.CopyToFloat32(A, vals)
	bound, nonzero := float32(1/math.Sqrt(96)), 0
	for _, v := range vals {
		if v < -bound || v > bound {
			t.Fatalf("lora_A value %v outside +-%v", v, bound)
		}
		if v != 0 {
			nonzero++
		}
	}
	if nonzero < len(vals)/2 {
		t.Fatalf("lora_A has %d non-zero values of %d", nonzero, len(vals))
	}
}

// Merged weights W + (alpha/R) B A give the logits of the base with its adapters on (1e-5), and
// turning the adapters off gives the base exactly. Oracle: the decoder's forward with adapters
// (the reference computation of y = W x + (alpha/R) B A x), against a folder written by
// SaveMerged and read back as an ordinary model folder.
func TestLoRAMergedMatchesAdapters(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := loadDecoder(t, qwen2Fixture)
	base := loraLogits(t, m)
	if err := m.AddLoRA(LoRAConfig{Rank: 3, Alpha: 5, Targets: []string{"q_proj", "v_proj", "o_proj", "up_proj", "down_proj"}}, 7); err != nil {
		t.Fatal(err)
	}
	randomizeB(t, m)
	adapted := loraLogits(t, m)
	if maxDiff(adapted, base) < 1e-3 {
		t.Fatalf("the adapters barely change the logits (%g): the test would not see a wrong merge", maxDiff(adapted, base))
	}
	m.SetLoRA(false)
	if got := loraLogits(t, m); !slices.Equal(got, base) {
		t.Fatal("adapters off: the logits are not the base model's")
	}
	m.SetLoRA(true)
	dir := t.TempDir()
	if err := m.SaveMerged(filepath.Join(dir, "model.safetensors"), qwen2Fixture, nil); err != nil {
		t.Fatal(err)
	}
	merged := loadDecoder(t, dir)
	if d := maxDiff(loraLogits(t, merged), adapted); d > 1e-5 {
		t.Fatalf("merged logits differ from base + adapters by %g (tolerance 1e-5)", d)
	}
}

// The adapter folder has PEFT's layout: adapter_config.json and adapter_model.safetensors with
// one lora_A [R, in] and lora_B [out, R] per targeted projection under PEFT's names, and reading
// it back gives the same model. Oracle: PEFT's naming (get_peft_model_state_dict in
// huggingface/peft src/peft/utils/save_and_load.py, see PEFTName) written out by hand for the
// qwen2 fixture (D 64, F 96, 4 query heads and 2 key/value heads of 16).
func TestLoRAAdapterFolderIsPEFTs(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := loadDecoder(t, qwen2Fixture)
	cfg := LoRAConfig{Rank: 8, Alpha: 16, Targets: LoRATargets()}
	if err := m.AddLoRA(cfg, 3); err != nil {
		t.Fatal(err)
	}
	randomizeB(t, m)
	dir := t.TempDir()
	if err := m.SaveLoRA(dir, qwen2Fixture, nil); err != nil {
		t.Fatal(err)
	}
	ws, err := OpenSafetensors(filepath.Join(dir, AdapterWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	want := map[string][]int64{}
	io := map[string][2]int64{"q_proj": {64, 64}, "k_proj": {64, 32}, "v_proj": {64, 32}, "o_proj": {64, 64},
		"gate_proj": {64, 96}, "up_proj": {64, 96}, "down_proj": {96, 64}}
	for l := range 2 {
		for _, p := range []string{"q_proj", "k_proj", "v_proj", "o_proj"} {
			k := fmt.Sprintf("base_model.model.model.layers.%d.self_attn.%s.", l, p)
			want[k+"lora_A.weight"] = []int64{8, io[p][0]}
			want[k+"lora_B.weight"] = []int64{io[p][1], 8}
		}
		for _, p := range []string{"gate_proj", "up_proj", "down_proj"} {
			k := fmt.Sprintf("base_model.model.model.layers.%d.mlp.%s.", l, p)
			want[k+"lora_A.weight"] = []int64{8, io[p][0]}
			want[k+"lora_B.weight"] = []int64{io[p][1], 8}
		}
	}
	if got := ws.Names(); len(got) != len(want) {
		t.Fatalf("%d tensors in the adapter file, want %d: %v", len(got), len(want), got)
	}
	for name, shape := range want {
		if got, ok := ws.Shape(name); !ok || !slices.Equal(got, shape) {
			t.Errorf("%s: shape %v (present %v), want %v", name, got, ok, shape)
		}
	}
	gotCfg, base, err := ReadAdapterFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if abs, _ := filepath.Abs(qwen2Fixture); base != abs || gotCfg.Rank != 8 || gotCfg.Alpha != 16 || !slices.Equal(gotCfg.Targets, cfg.Targets) {
		t.Fatalf("adapter_config.json reads back as %+v, base %s", gotCfg, base)
	}
	// A config the file does not match is refused, and leaves the base model as it was.
	other := loadDecoder(t, qwen2Fixture)
	plain := loraLogits(t, other)
	if err := other.LoadLoRA(LoRAConfig{Rank: 8, Alpha: 16, Targets: DefaultLoRATargets()}, ws); err == nil || !strings.Contains(err.Error(), "does not have") {
		t.Errorf("adapters of every projection read as attention-only: %v", err)
	}
	if err := other.LoadLoRA(LoRAConfig{Rank: 4, Alpha: 16, Targets: LoRATargets()}, ws); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("rank-8 adapters read as rank 4: %v", err)
	}
	if _, ok := other.LoRA(); ok || !slices.Equal(loraLogits(t, other), plain) {
		t.Error("a refused adapter file left adapters on the decoder")
	}
	back := loadDecoder(t, qwen2Fixture)
	if err := back.LoadAdapterFolder(dir); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(loraLogits(t, back), loraLogits(t, m)) {
		t.Fatal("the adapter folder read back gives other logits")
	}
}

// A config that cannot apply is refused with a message naming the problem.
// Oracle: the rules of LoRAConfig.Check, case by case.
func TestLoRAConfigCheck(t *testing.T) {
	for _, c := range []struct {
		cfg  LoRAConfig
		want string
	}{
		{LoRAConfig{Rank: 0, Alpha: 1, Targets: []string{"q_proj"}}, "rank 0"},
		{LoRAConfig{Rank: 2, Alpha: 0, Targets: []string{"q_proj"}}, "alpha"},
		{LoRAConfig{Rank: 2, Alpha: 4, Targets: []string{"qkv"}}, `unknown target "qkv"`},
		{LoRAConfig{Rank: 2, Alpha: 4, Targets: []string{"q_proj", "q_proj"}}, "twice"},
		{LoRAConfig{Rank: 2, Alpha: 4}, "no target"},
	} {
		err := c.cfg.Check()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one saying %q", c.cfg, err, c.want)
		}
	}
	if err := (LoRAConfig{Rank: 2, Alpha: 4, Targets: DefaultLoRATargets()}).Check(); err != nil {
		t.Errorf("the default targets: %v", err)
	}
}

func maxDiff(x, y []float32) float64 {
	d := 0.0
	for i := range x {
		d = max(d, math.Abs(float64(x[i]-y[i])))
	}
	return d
}

// AdapterBase gives the base folder relative to the adapter folder, and refuses a folder that
// names none (the adapters cannot be loaded without it). Oracle: the hand-written configs.
func TestAdapterBase(t *testing.T) {
	dir := t.TempDir()
	write := func(base string) {
		js := `{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "base_model_name_or_path": "` + base + `"}`
		if err := os.WriteFile(filepath.Join(dir, AdapterConfigFile), []byte(js), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("../base")
	if got, err := AdapterBase(dir); err != nil || got != filepath.Join(dir, "../base") {
		t.Errorf("AdapterBase = %q, %v; want %q", got, err, filepath.Join(dir, "../base"))
	}
	write("")
	if _, err := AdapterBase(dir); err == nil || !strings.Contains(err.Error(), "names no base model") {
		t.Errorf("a folder naming no base model: %v, want an error saying so", err)
	}
}
