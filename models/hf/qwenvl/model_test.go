package qwenvl

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
	"github.com/unigrpo/unigrpo/models/hf/tokenizer"
)

const qwenVLFamily = "qwen2_5_vl"

// qwenVLInts reads an I64 tensor of the fixture (Weights.Load reads only float tensors).
func qwenVLInts(t *testing.T, f *hftest.Fixture, name string) ([]int, []int64) {
	t.Helper()
	dtype, shape, b, ok := f.Tensors.Raw(name)
	if !ok || dtype != "I64" {
		t.Fatalf("%s: expected.safetensors has no I64 %s", f.Dir, name)
	}
	out := make([]int, len(b)/8)
	for i := range out {
		out[i] = int(int64(binary.LittleEndian.Uint64(b[8*i:])))
	}
	return out, shape
}

// qwenVLFixtureInputs returns the fixture's pixel rows, grids, input ids and mask.
func qwenVLFixtureInputs(t *testing.T, f *hftest.Fixture, a *raw.Arena) (pixels []float32, grids [][3]int, ids, mask [][]int) {
	t.Helper()
	pixels, _ = f.Values(t, a, "pixel_values")
	g, gs := qwenVLInts(t, f, "image_grid_thw")
	for i := 0; i < int(gs[0]); i++ {
		grids = append(grids, [3]int{g[3*i], g[3*i+1], g[3*i+2]})
	}
	ids = f.Exp.Inputs.InputIDs
	m, ms := qwenVLInts(t, f, "attention_mask")
	for b := 0; b < int(ms[0]); b++ {
		mask = append(mask, m[b*int(ms[1]):(b+1)*int(ms[1])])
	}
	return pixels, grids, ids, mask
}

// qwenVLCompare returns the largest |got - want| and |want|.
func qwenVLCompare(t *testing.T, a *raw.Arena, got raw.Tensor, want []float32) (worst, scale float64) {
	t.Helper()
	g := make([]float32, len(want))
	a.CopyToFloat32(a.Contiguous(a.To(got, raw.Float32)), g)
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(g[i]-want[i])))
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	return worst, scale
}

// Step 1: the vision tower and merger on the fixture's own pixel_values give transformers'
// image_embeds within 1e-4.
func TestQwenVLVisionMatchesTransformers(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f := hftest.Open(t, qwenVLFamily)
	m, err := Load(f.Dir, gotch.CPU, raw.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a := raw.New(-1)
	defer a.Free()
	pixels, grids, _, _ := qwenVLFixtureInputs(t, f, a)
	want, shape := f.Values(t, a, "image_embeds")
	got, err := m.vision.encode(a, a.FromFloat32(pixels, int64(len(pixels)/384), 384), grids)
	if err != nil {
		t.Fatal(err)
	}
	if sh := a.Shape(got); fmt.Sprint(sh) != fmt.Sprint(shape) {
		t.Fatalf("image features of shape %v, transformers %v", sh, shape)
	}
	worst, scale := qwenVLCompare(t, a, got, want)
	t.Logf("image_embeds: max diff %.3g of values up to %.3g", worst, scale)
	if worst > 1e-4*math.Max(1, scale) {
		t.Errorf("image_embeds: max |Go - transformers| = %.3g (values up to %.3g)", worst, scale)
	}
}

// A folder with a tensor missing, of a wrong shape or a stray one is refused by name.
func TestQwenVLLoadErrors(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	src := hftest.Dir(qwenVLFamily)
	js, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(js, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["vision_config"].(map[string]any)["intermediate_size"] = 48
	dir := t.TempDir()
	js, _ = json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(mustAbs(t, src), "model.safetensors"), filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	_, err = Load(dir, gotch.CPU, raw.Float32)
	if err == nil || !contains(err.Error(), "visual.blocks.0.mlp.gate_proj.weight") {
		t.Errorf("a vision_config that does not fit the weights: error %v, want one naming visual.blocks.0.mlp.gate_proj.weight", err)
	}
	cfg["vision_config"].(map[string]any)["intermediate_size"] = 64
	cfg["vision_config"].(map[string]any)["depth"] = 1
	cfg["vision_config"].(map[string]any)["fullatt_block_indexes"] = []int{0}
	js, _ = json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(dir, gotch.CPU, raw.Float32)
	if err == nil || !contains(err.Error(), "visual.blocks.1.") {
		t.Errorf("a folder with a block more than depth: error %v, want one naming visual.blocks.1.*", err)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// Step 2: M-RoPE positions equal transformers' get_rope_index, and the language model's hidden
// states and logits with the image features in place of <|image_pad|> match within 1e-4.
func TestQwenVLMatchesTransformers(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, c := range []struct {
		kind raw.Kind
		tol  float64
	}{{raw.Float32, 1e-4}, {raw.BFloat16, 0.03}} {
		t.Run(c.kind.String(), func(t *testing.T) { qwenVLCheckForward(t, c.kind, c.tol) })
	}
}

func qwenVLCheckForward(t *testing.T, kind raw.Kind, tol float64) {
	f := hftest.Open(t, qwenVLFamily)
	m, err := Load(f.Dir, gotch.CPU, kind)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a := raw.New(-1)
	defer a.Free()
	pixels, grids, ids, mask := qwenVLFixtureInputs(t, f, a)
	pos, delta, err := m.cfg.RopeIndex(ids, mask, grids)
	if err != nil {
		t.Fatal(err)
	}
	wantPos, ps := qwenVLInts(t, f, "mrope_position_ids")
	B, T := int(ps[1]), int(ps[2])
	for ax := range 3 {
		for b := range B {
			for i := range T {
				if g, w := pos[ax][b][i], wantPos[(ax*B+b)*T+i]; g != w {
					t.Fatalf("mrope position [%d, %d, %d]: Go %d, transformers %d", ax, b, i, g, w)
				}
			}
		}
	}
	wantDelta, _ := qwenVLInts(t, f, "mrope_deltas")
	if fmt.Sprint(delta) != fmt.Sprint(wantDelta) {
		t.Fatalf("mrope deltas: Go %v, transformers %v", delta, wantDelta)
	}
	images, err := m.vision.encode(a, a.FromFloat32(pixels, int64(len(pixels)/384), 384), grids)
	if err != nil {
		t.Fatal(err)
	}
	hidden, logits, err := m.forward(a, Batch{IDs: ids, Pos: pos, Mask: mask}, images, nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got raw.Tensor) {
		want, _ := f.Values(t, a, name)
		worst, scale := qwenVLCompare(t, a, got, want)
		t.Logf("%s: max diff %.3g of values up to %.3g", name, worst, scale)
		if worst > tol*math.Max(1, scale) {
			t.Errorf("%s: max |Go - transformers| = %.3g (values up to %.3g, tolerance %g relative)", name, worst, scale, tol)
		}
	}
	for i, h := range hidden {
		check(fmt.Sprintf("hidden_states.%d", i), h)
	}
	check("image_embeds", images)
	check("logits", logits)
	qwenVLCheckSpan(t, f, a, m, Batch{IDs: ids, Pos: pos, Mask: mask}, images, tol)
}

// qwenVLCheckSpan checks that the head over the last 3 positions only (Batch.Logits, as LogProbs
// asks for the caption's positions) gives transformers' logits at those positions, [B, 3, V].
func qwenVLCheckSpan(t *testing.T, f *hftest.Fixture, a *raw.Arena, m *Model, in Batch, images raw.Tensor, tol float64) {
	t.Helper()
	all, shape := f.Values(t, a, "logits") // [B, S, V]
	B, S, V := int(shape[0]), int(shape[1]), int(shape[2])
	in.Logits = hf.Span{From: S - 3, Len: 3}
	_, part, err := m.forward(a, in, images, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sh := a.Shape(part); len(sh) != 3 || sh[0] != int64(B) || sh[1] != 3 || sh[2] != int64(V) {
		t.Fatalf("logits of span %+v: shape %v, want [%d 3 %d]", in.Logits, sh, B, V)
	}
	want := make([]float32, 0, B*3*V)
	for b := range B {
		want = append(want, all[(b*S+S-3)*V:(b*S+S)*V]...)
	}
	if worst, scale := qwenVLCompare(t, a, part, want); worst > tol*math.Max(1, scale) {
		t.Errorf("logits of span %+v: max |Go - transformers| = %.3g (values up to %.3g)", in.Logits, worst, scale)
	}
}

// Step 3: greedy generation with the key/value cache gives transformers' generate() tokens.
func TestQwenVLGenerateMatchesTransformers(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f := hftest.Open(t, qwenVLFamily)
	m, err := Load(f.Dir, gotch.CPU, raw.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a := raw.New(-1)
	defer a.Free()
	pixels, grids, ids, _ := qwenVLFixtureInputs(t, f, a)
	got, err := m.Generate([]Prompt{{IDs: ids[0], Pixels: pixels, Grids: grids}}, hf.GenerateOptions{MaxNew: f.Exp.Generation.MaxNew})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(f.Exp.Generation.Generate) {
		t.Errorf("Go %v, transformers %v", got, f.Exp.Generation.Generate)
	}
}

// qwenVLFixtureImage decodes the fixture's image.png into 8-bit RGB.
func qwenVLFixtureImage(t *testing.T, dir string) (w, h int, rgb []uint8) {
	t.Helper()
	fp, err := os.Open(filepath.Join(dir, "image.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer fp.Close()
	img, err := png.Decode(fp)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	rgb = make([]uint8, 0, 3*w*h)
	for y := range h {
		for x := range w {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			rgb = append(rgb, c.R, c.G, c.B)
		}
	}
	return w, h, rgb
}

// Step 4: the image processor makes transformers' pixel_values and image_grid_thw from
// image.png, and the expanded prompt tokenizes to transformers' input_ids.
func TestQwenVLProcessorMatchesTransformers(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f := hftest.Open(t, qwenVLFamily)
	p, err := LoadImageProcessor(f.Dir)
	if err != nil {
		t.Fatal(err)
	}
	a := raw.New(-1)
	defer a.Free()
	wantPix, grids, ids, _ := qwenVLFixtureInputs(t, f, a)
	w, h, rgb := qwenVLFixtureImage(t, f.Dir)
	pix, grid, err := p.Preprocess(w, h, rgb)
	if err != nil {
		t.Fatal(err)
	}
	if len(grids) != 1 || grid != grids[0] {
		t.Fatalf("grid %v, transformers %v", grid, grids)
	}
	if len(pix) != len(wantPix) {
		t.Fatalf("%d pixel values, transformers %d", len(pix), len(wantPix))
	}
	worst := 0.0
	for i := range pix {
		worst = math.Max(worst, math.Abs(float64(pix[i]-wantPix[i])))
	}
	t.Logf("pixel_values: max diff %.3g", worst)
	if worst > 1e-6 {
		t.Errorf("pixel_values: max |Go - transformers| = %.3g", worst)
	}
	var exp struct {
		Inputs struct {
			Prompt   string `json:"prompt"`
			Expanded string `json:"expanded_prompt"`
		} `json:"inputs"`
	}
	js, err := os.ReadFile(filepath.Join(f.Dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &exp); err != nil {
		t.Fatal(err)
	}
	expanded, err := p.ExpandPrompt(exp.Inputs.Prompt, [][3]int{grid})
	if err != nil {
		t.Fatal(err)
	}
	if expanded != exp.Inputs.Expanded {
		t.Errorf("expanded prompt %q, transformers %q", expanded, exp.Inputs.Expanded)
	}
	tok, err := tokenizer.Load(f.Dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tok.Encode(expanded, true)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(ids[0]) {
		t.Errorf("input ids %v, transformers %v", got, ids[0])
	}
}
