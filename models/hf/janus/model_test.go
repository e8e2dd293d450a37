package janus

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// The fixture's config reads as written by the reference script.
func TestJanusConfig(t *testing.T) {
	c, err := ReadConfig(janusDir)
	if err != nil {
		t.Fatal(err)
	}
	v := c.Vision
	switch {
	case c.Text.D != 64 || c.Text.Layers != 2 || c.Text.H != 4 || c.Text.KV != 2 || c.Text.Vocab != 100 || c.Text.TieEmbedding:
		t.Errorf("text config %+v", c.Text)
	case v.D != 32 || v.Grid() != 4 || v.F() != 64 || v.Tokens != 16 || v.ProjDim != 64 || v.Depth != 2:
		t.Errorf("vision config %+v", v)
	case c.VQ.NumEmbeddings != 32 || c.VQ.EmbedDim != 4 || c.VQ.NumPatches != 4:
		t.Errorf("vq config %+v", c.VQ)
	case c.ImageTokenID != 97 || c.BOS != 1 || c.PAD != 0 || c.BOI != 98:
		t.Errorf("special ids: image %d bos %d pad %d boi %d", c.ImageTokenID, c.BOS, c.PAD, c.BOI)
	}
}

// Configs the model cannot run are refused with the field named.
func TestJanusConfigErrors(t *testing.T) {
	js, err := os.ReadFile(filepath.Join(janusDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		edit func(m map[string]any)
		want string
	}{
		{func(m map[string]any) { m["model_type"] = "chameleon" }, "model_type"},
		{func(m map[string]any) { m["image_token_id"] = 100 }, "image_token_id"},
		{func(m map[string]any) { m["vision_config"].(map[string]any)["projection_dim"] = 32 }, "projection_dim"},
		{func(m map[string]any) { m["vision_config"].(map[string]any)["num_image_tokens"] = 576 }, "num_image_tokens"},
		{func(m map[string]any) { m["vision_config"].(map[string]any)["use_qk_norm"] = true }, "use_qk_norm"},
		{func(m map[string]any) { m["vision_config"].(map[string]any)["hidden_act"] = "relu" }, "hidden_act"},
		{func(m map[string]any) { m["vq_config"].(map[string]any)["image_token_embed_dim"] = 32 }, "image_token_embed_dim"},
		{func(m map[string]any) { m["vq_config"].(map[string]any)["base_channels"] = 48 }, "base_channels"},
		{func(m map[string]any) { m["text_config"].(map[string]any)["num_key_value_heads"] = 3 }, "num_key_value_heads"},
	} {
		var m map[string]any
		if err := json.Unmarshal(js, &m); err != nil {
			t.Fatal(err)
		}
		c.edit(m)
		bad, _ := json.Marshal(m)
		if _, err := parseConfig(bad, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming it", c.want, err)
		}
	}
}

// Sampled guided generation depends only on the generators' seeds, and its codes are in the
// codebook. (Oracle: determinism; torch's sampler draws differently from Go's.)
func TestJanusSampledCodesDeterministic(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := loadJanusFixture(t)
	prompts := [][]int{{1, 7, 8, 98}, {1, 9, 98}}
	gen := func(seed uint64) [][]int {
		rngs := []*rand.Rand{rand.New(rand.NewPCG(seed, 1)), rand.New(rand.NewPCG(seed, 2))}
		codes, err := m.GenerateImageCodes(prompts, ImageGenOptions{Scale: 2, Temperature: 1, TopK: 8}, rngs)
		if err != nil {
			t.Fatal(err)
		}
		return codes
	}
	x, y, z := gen(1), gen(1), gen(2)
	if !reflect.DeepEqual(x, y) {
		t.Errorf("the same seeds gave %v and %v", x, y)
	}
	if reflect.DeepEqual(x, z) {
		t.Errorf("different seeds gave the same codes %v", x)
	}
	for _, row := range x {
		for _, k := range row {
			if k < 0 || k >= 32 {
				t.Fatalf("code %d outside the codebook", k)
			}
		}
	}
}

// A folder with a tensor missing, an unexpected one or one of a wrong shape is refused, the
// tensor named. (Oracle: the names and shapes of the reference's checkpoint.)
func TestJanusLoadErrors(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := loadJanusFixture(t)
	for _, c := range []struct {
		name string
		edit func(a *raw.Arena, names map[string]raw.Tensor)
	}{
		{"model.generation_head.vision_head.bias", func(a *raw.Arena, n map[string]raw.Tensor) { delete(n, "model.generation_head.vision_head.bias") }},
		{"model.language_model.layers.1.mlp.up_proj.weight", func(a *raw.Arena, n map[string]raw.Tensor) {
			delete(n, "model.language_model.layers.1.mlp.up_proj.weight")
		}},
		{"model.vqmodel.decoder.conv_out.weight", func(a *raw.Arena, n map[string]raw.Tensor) { delete(n, "model.vqmodel.decoder.conv_out.weight") }},
		{"model.vision_model.head.probe", func(a *raw.Arena, n map[string]raw.Tensor) {
			n["model.vision_model.head.probe"] = a.Zeros(1, 1, 32)
		}},
		{"model.aligner.fc1.weight", func(a *raw.Arena, n map[string]raw.Tensor) { n["model.aligner.fc1.weight"] = a.Zeros(64, 16) }},
	} {
		dir := janusCopy(t, m, c.edit)
		_, err := Load(dir, gotch.CPU, raw.Float32)
		if err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s: error %v, want one naming the tensor", c.name, err)
		}
	}
}

// Save writes a folder that loads back to the same weights and outputs. (Oracle: the model
// saved.)
func TestJanusSaveRoundTrip(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := loadJanusFixture(t)
	dir := t.TempDir()
	if err := m.Save(dir, map[string]string{"step": "7"}); err != nil {
		t.Fatal(err)
	}
	m2, err := Load(dir, gotch.CPU, raw.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if !reflect.DeepEqual(m.cfg, m2.cfg) {
		t.Errorf("config\n  saved  %+v\n  loaded %+v", m.cfg, m2.cfg)
	}
	p1, p2 := m.Params(), m2.Params()
	if len(p1) != len(p2) {
		t.Fatalf("%d weights saved, %d loaded", len(p1), len(p2))
	}
	a := raw.New(-1)
	defer a.Free()
	for i := range p1 {
		if p1[i].Name != p2[i].Name || p1[i].Part != p2[i].Part {
			t.Fatalf("weight %d: %s (%s) saved, %s (%s) loaded", i, p1[i].Name, p1[i].Part, p2[i].Name, p2[i].Part)
		}
		n := hf.Numel(a.Shape(p1[i].Tensor))
		x, y := make([]float32, n), make([]float32, n)
		a.CopyToFloat32(a.To(p1[i].Tensor, raw.Float32), x)
		a.CopyToFloat32(a.To(p2[i].Tensor, raw.Float32), y)
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("%s differs after the round trip", p1[i].Name)
		}
	}
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	c1, _ := m.GenerateImageCodes([][]int{{1, 3, 98}}, ImageGenOptions{Scale: 5, Greedy: true}, nil)
	c2, _ := m2.GenerateImageCodes([][]int{{1, 3, 98}}, ImageGenOptions{Scale: 5, Greedy: true}, nil)
	if !reflect.DeepEqual(c1, c2) {
		t.Errorf("codes before %v and after %v the round trip", c1, c2)
	}
}

// Params lists every weight once with its part, and SetTrainable's parts alone get gradients
// from a loss on the generation head. (Oracle: autograd's definition: only weights requiring
// grad have one.)
func TestJanusTrainableParts(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := loadJanusFixture(t)
	count := map[string]int{}
	for _, p := range m.Params() {
		count[p.Part]++
	}
	if len(m.Params()) != len(m.names) || len(count) != 5 {
		t.Fatalf("%d params in parts %v for %d weights", len(m.Params()), count, len(m.names))
	}
	if err := m.SetTrainable("gen", "lm"); err != nil {
		t.Fatal(err)
	}
	defer m.SetTrainable()
	if err := m.SetTrainable("decoder"); err == nil {
		t.Error("an unknown part was accepted")
	}
	if err := m.SetTrainable("gen", "lm"); err != nil {
		t.Fatal(err)
	}
	// Grad mode is per OS thread, and another test may have left this one's off.
	defer raw.SetGradEnabled(raw.SetGradEnabled(true))
	a := raw.New(-1)
	defer a.Free()
	in := Batch{IDs: [][]int{{1, 5, 98, 0, 0}}, Codes: [][]int{{-1, -1, -1, 3, 4}}}
	h, err := m.forward(a, in, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	loss := a.Sum(m.imageLogits(a, h))
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	lt := a.Keep(loss)
	lt.MustBackward()
	lt.MustDrop()
	for _, p := range m.Params() {
		g := a.Grad(p.Tensor)
		has := raw.Defined(g)
		switch {
		case (p.Part == "gen" || p.Part == "lm") && !has && p.Name != "lm_head.weight":
			t.Errorf("%s (%s) trains but has no gradient", p.Name, p.Part)
		case p.Part != "gen" && p.Part != "lm" && has:
			t.Errorf("%s (%s) is frozen but has a gradient", p.Name, p.Part)
		}
	}
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
}

// The processor's output for a square 8-bit image at the tower's side is (x/255 - 0.5)/0.5;
// a wide one is resized, centred and padded with int(0.5*255) = 127. (Oracle: the arithmetic of
// image_processing_janus.py; the resize itself is Pillow's, checked in models/hf's pil_test.go.)
func TestJanusPreprocess(t *testing.T) {
	p, err := loadImageProcessor(t.TempDir(), VisionConfig{ImageSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	rgb := make([]uint8, 3*32*32)
	for i := range rgb {
		rgb[i] = uint8(i * 7)
	}
	px, err := p.Preprocess(32, 32, rgb)
	if err != nil {
		t.Fatal(err)
	}
	for c := range 3 {
		for i := range 32 * 32 {
			want := (float32(float64(rgb[3*i+c])*(1.0/255)) - 0.5) / 0.5
			if px[c*32*32+i] != want {
				t.Fatalf("channel %d pixel %d: %v, want %v", c, i, px[c*32*32+i], want)
			}
		}
	}
	wide := make([]uint8, 3*64*16) // 64 x 16 -> 32 x max(8, min_size 14), rows 9..22 of 32
	for i := range wide {
		wide[i] = 255
	}
	px, err = p.Preprocess(64, 16, wide)
	if err != nil {
		t.Fatal(err)
	}
	bg := (float32(127.0/255) - 0.5) / 0.5
	for y := range 32 {
		want := bg
		if y >= 9 && y < 23 {
			want = 1
		}
		if got := px[y*32+5]; math.Abs(float64(got-want)) > 1e-6 {
			t.Fatalf("row %d: %v, want %v", y, got, want)
		}
	}
}

// In bfloat16 (LayerNorms, softmax, the patch convolution and the VQ-VAE's GroupNorms in
// float32) the understanding logits stay within bfloat16's precision of the float32
// reference's, and guided generation and decoding run.
func TestJanusBFloat16(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m, err := Load(janusDir, gotch.CPU, raw.BFloat16)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	w, err := hf.OpenSafetensors(filepath.Join(janusDir, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f := &janusFixture{w}
	a := raw.New(-1)
	defer a.Free()
	px, _ := f.floats(t, a, "pixel_values")
	in := Batch{IDs: f.ints(t, "input_ids"), Mask: f.ints(t, "attention_mask"), Pos: f.ints(t, "position_ids")}
	h, err := m.forward(a, in, m.ImageFeatures(a, px), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, want := f.floats(t, a, "logits")
	got := make([]float32, len(want))
	a.CopyToFloat32(a.Contiguous(m.textLogits(a, h)), got)
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	worst, scale := 0.0, 0.0
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	t.Logf("bfloat16 logits: max |Go - reference| %.3g of values up to %.3g", worst, scale)
	if worst > 0.1*scale {
		t.Errorf("bfloat16 logits: max |Go - reference| = %.3g of values up to %.3g", worst, scale)
	}
	codes, err := m.GenerateImageCodes([][]int{{1, 4, 98}}, ImageGenOptions{Scale: 5, Greedy: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pix, err := m.DecodeCodes(codes)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range pix {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatal("decoded pixels hold a NaN or Inf")
		}
	}
}
