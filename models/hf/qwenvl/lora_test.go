package qwenvl

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
)

// vlLogits runs the fixture's inputs (its images and prompts, M-RoPE positions) through m and
// returns the logits.
func vlLogits(t *testing.T, f *hftest.Fixture, m *Model) []float32 {
	t.Helper()
	a := raw.New(-1)
	defer a.Free()
	pixels, grids, ids, mask := qwenVLFixtureInputs(t, f, a)
	pos, _, err := m.cfg.RopeIndex(ids, mask, grids)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := m.vision.encode(a, a.FromFloat32(pixels, int64(len(pixels)/384), 384), grids)
	if err != nil {
		t.Fatal(err)
	}
	_, lg, err := m.forward(a, Batch{IDs: ids, Pos: pos, Mask: mask}, imgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, hf.Numel(a.Shape(lg)))
	a.CopyToFloat32(a.Contiguous(lg), out)
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// vlLoadFixture loads the fixture's model in float32.
func vlLoadFixture(t *testing.T, dir string) *Model {
	t.Helper()
	m, err := Load(dir, gotch.CPU, raw.Float32)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func vlMaxDiff(x, y []float32) float64 {
	d := 0.0
	for i := range x {
		d = max(d, math.Abs(float64(x[i]-y[i])))
	}
	return d
}

// vlRandomizeB fills every lora_B with values of about the size training gives them.
func vlRandomizeB(t *testing.T, m *Model) {
	t.Helper()
	a := raw.New(-1)
	defer a.Free()
	for name, h := range m.LoRATensors() {
		if !strings.Contains(name, ".lora_B.") {
			continue
		}
		shape := a.Shape(h)
		vals := make([]float32, hf.Numel(shape))
		for i := range vals {
			vals[i] = float32(0.05 * math.Sin(float64(3*i+len(name))))
		}
		a.Copy_(h, a.FromFloat32(vals, shape...))
	}
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
}

// With B zero-initialised, the adapted Qwen2.5-VL model's logits on the fixture's images and
// prompts are the base model's exactly; the adapters are on the language model only, named and
// shaped as PEFT names a Qwen2.5-VL adapter under transformers 5. Oracles: the same model's
// forward before the adapters were added (itself checked against transformers'
// logits in model_test.go), and the convention documented at peftModule with the fixture's
// weight shapes: base_model.model.model.language_model.layers.N.<part>.<proj>.lora_A.weight
// [R, in], lora_B.weight [out, R].
func TestQwenVLLoRAZeroBIsBaseAndPEFTNames(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f := hftest.Open(t, qwenVLFamily)
	m := vlLoadFixture(t, f.Dir)
	defer m.Close()
	base := vlLogits(t, f, m)
	const R = 4
	if err := m.AddLoRA(hf.LoRAConfig{Rank: R, Alpha: 8, Targets: hf.LoRATargets()}, 1); err != nil {
		t.Fatal(err)
	}
	if got := vlLogits(t, f, m); !slices.Equal(got, base) {
		t.Fatalf("zero-initialised B changed the logits by %g", vlMaxDiff(got, base))
	}
	ws, err := hf.OpenWeights(f.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	want := map[string][]int64{}
	for _, n := range ws.Names() { // the folder's own layout: model.layers.* (or model.language_model.layers.*)
		rest := strings.TrimPrefix(strings.TrimPrefix(n, "model.language_model."), "model.")
		if rest == n || !strings.HasPrefix(rest, "layers.") {
			continue
		}
		parts := strings.Split(strings.TrimSuffix(rest, ".weight"), ".") // layers N part proj
		if len(parts) != 4 || !slices.Contains(hf.LoRATargets(), parts[3]) || !strings.HasSuffix(rest, ".weight") {
			continue
		}
		shape, _ := ws.Shape(n)
		module := "base_model.model.model.language_model." + strings.TrimSuffix(rest, ".weight")
		want[module+".lora_A.weight"] = []int64{R, shape[1]}
		want[module+".lora_B.weight"] = []int64{shape[0], R}
	}
	layers := m.cfg.Text.Layers
	if len(want) != 2*7*layers {
		t.Fatalf("the oracle found %d adapter names in the fixture, want %d", len(want), 2*7*layers)
	}
	a := raw.New(-1)
	defer a.Free()
	got := m.LoRATensors()
	for n, h := range got {
		if w, ok := want[n]; !ok {
			t.Errorf("adapter %s is not a PEFT name of a language-model projection", n)
		} else if s := a.Shape(h); fmt.Sprint(s) != fmt.Sprint(w) {
			t.Errorf("adapter %s of shape %v, PEFT's is %v", n, s, w)
		}
	}
	for n := range want {
		if _, ok := got[n]; !ok {
			t.Errorf("adapter %s missing", n)
		}
	}
}

// Merged weights give the logits of the base with its adapters on (1e-5), adapters off give the
// base exactly, the merged folder's vision tower is the base's bit for bit, and an adapter
// folder loads back as the same adapters. Oracle: the model's forward with adapters (the
// reference computation y = W x + (alpha/R) B A x) against a folder written by SaveMerged and
// read back by Load as an ordinary Qwen2.5-VL folder.
func TestQwenVLLoRAMergedMatchesAdapters(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f := hftest.Open(t, qwenVLFamily)
	m := vlLoadFixture(t, f.Dir)
	defer m.Close()
	base := vlLogits(t, f, m)
	if err := m.AddLoRA(hf.LoRAConfig{Rank: 3, Alpha: 5, Targets: []string{"q_proj", "v_proj", "o_proj", "up_proj", "down_proj"}}, 7); err != nil {
		t.Fatal(err)
	}
	vlRandomizeB(t, m)
	adapted := vlLogits(t, f, m)
	if d := vlMaxDiff(adapted, base); d < 1e-3 {
		t.Fatalf("the adapters barely change the logits (%g): the test would not see a wrong merge", d)
	}
	m.SetLoRA(false)
	if got := vlLogits(t, f, m); !slices.Equal(got, base) {
		t.Fatal("adapters off: the logits are not the base model's")
	}
	m.SetLoRA(true)
	dir := t.TempDir()
	merged, peft := filepath.Join(dir, "merged"), filepath.Join(dir, "peft")
	for _, d := range []string{merged, peft} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.SaveMerged(filepath.Join(merged, "model.safetensors"), f.Dir, nil); err != nil {
		t.Fatal(err)
	}
	mm := vlLoadFixture(t, merged)
	defer mm.Close()
	if d := vlMaxDiff(vlLogits(t, f, mm), adapted); d > 1e-5 {
		t.Errorf("merged folder's logits differ from base + adapters by %g (tolerance 1e-5)", d)
	}
	if _, err := LoadImageProcessor(merged); err != nil {
		t.Errorf("the merged folder's image processor: %v", err)
	}
	a := raw.New(-1)
	defer a.Free()
	values := func(h raw.Tensor) []float32 {
		v := make([]float32, hf.Numel(a.Shape(h)))
		a.CopyToFloat32(a.Contiguous(h), v)
		return v
	}
	for _, n := range m.vision.names {
		if !slices.Equal(values(m.vision.named[n]), values(mm.vision.named[n])) {
			t.Errorf("merged folder: vision weight %s differs from the base's", n)
		}
	}
	if err := m.SaveLoRA(peft, f.Dir, nil); err != nil {
		t.Fatal(err)
	}
	vlCheckExclude(t, peft, m)
	back := vlLoadFixture(t, f.Dir)
	defer back.Close()
	if err := back.LoadAdapterFolder(peft); err != nil {
		t.Fatal(err)
	}
	if got := vlLogits(t, f, back); !slices.Equal(got, adapted) {
		t.Errorf("adapters read back from %s give other logits (by %g)", peft, vlMaxDiff(got, adapted))
	}
}

// vlCheckExclude checks the exclude_modules of the adapter folder dir: matched whole, as PEFT's
// check_target_module_exists matches a string exclude_modules, it takes in every module of the
// vision tower whose name ends like a target (the fixture's visual.blocks.N.mlp.*_proj, at
// model.visual.* in transformers 5's module tree) and none of the adapted language-model modules.
// Oracle: PEFT's matching rule and the fixture's weight names.
func vlCheckExclude(t *testing.T, dir string, m *Model) {
	t.Helper()
	js, err := os.ReadFile(filepath.Join(dir, hf.AdapterConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var ac struct {
		Exclude string `json:"exclude_modules"`
	}
	if err := json.Unmarshal(js, &ac); err != nil || ac.Exclude == "" {
		t.Fatalf("adapter_config.json: exclude_modules %q (%v); want a regular expression of the vision tower", ac.Exclude, err)
	}
	re := regexp.MustCompile("^(?:" + ac.Exclude + ")$")
	vision := 0
	for _, n := range m.vision.names {
		module := "model." + strings.TrimSuffix(n, ".weight")
		if slices.Contains(hf.LoRATargets(), module[strings.LastIndex(module, ".")+1:]) {
			vision++
			if !re.MatchString(module) {
				t.Errorf("exclude_modules %q lets PEFT adapt the vision module %s", ac.Exclude, module)
			}
		}
	}
	if vision == 0 {
		t.Fatal("the fixture's vision tower has no module named like a target: the check would see nothing")
	}
	for n := range m.LoRATensors() {
		module := strings.TrimPrefix(n[:strings.Index(n, ".lora_")], "base_model.model.")
		if re.MatchString(module) {
			t.Errorf("exclude_modules %q excludes the adapted module %s", ac.Exclude, module)
		}
	}
}
