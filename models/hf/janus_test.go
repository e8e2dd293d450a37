package hf

import (
	"bytes"
	"encoding/binary"
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
)

// The oracle of these tests, unless a test says otherwise, is a PyTorch 1.13 reference written
// from transformers' modeling_janus.py (scripts/oracles/janus.py with scripts/oracles/janusref): its
// tiny random Janus (testdata/janus/model.safetensors in transformers' names) and its outputs
// (testdata/janus/reference.safetensors). Its generations recompute the whole sequence at every
// step, so they also check the Go decoder's key/value cache.

const janusDir = "testdata/janus"

// janusTol is the largest |Go - reference| allowed, relative to the largest |reference|.
const janusTol = 1e-5

type janusFixture struct {
	w *Weights
}

// janusFixtures are the folders the comparisons run on: the reference's, and transformers' own
// (scripts/oracles/hf-fixtures.py on a host with transformers; its outputs under the same names), when
// that one has been made.
var janusFixtures = []struct{ dir, file string }{
	{janusDir, "reference.safetensors"},
	{"testdata/transformers/janus", "expected.safetensors"},
}

// forEachJanusFixture runs check on the model and outputs of each fixture present.
func forEachJanusFixture(t *testing.T, check func(t *testing.T, m *Janus, f *janusFixture)) {
	for i, fx := range janusFixtures {
		path := filepath.Join(fx.dir, fx.file)
		if _, err := os.Stat(path); i > 0 && err != nil {
			continue // transformers' fixture is made on a GPU host, and may not be there yet
		}
		t.Run(fx.dir, func(t *testing.T) { // a subtest runs on its own goroutine: lock that one
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			w := &Weights{dir: fx.dir, tensors: map[string]*stTensor{}}
			if err := w.open(path); err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			m, err := LoadJanus(fx.dir, gotch.CPU, raw.Float32)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			check(t, m, &janusFixture{w})
		})
	}
}

// floats reads a float32 tensor of the reference into arena a.
func (f *janusFixture) floats(t *testing.T, a *raw.Arena, name string) (raw.Tensor, []float32) {
	t.Helper()
	shape, ok := f.w.Shape(name)
	if !ok {
		t.Fatalf("reference.safetensors has no %s", name)
	}
	x, err := f.w.Load(a, name, raw.Float32, shape...)
	if err != nil {
		t.Fatal(err)
	}
	vals := make([]float32, Numel(shape))
	a.CopyToFloat32(x, vals)
	return x, vals
}

// ints reads an int64 tensor of the reference as rows of its last dimension.
func (f *janusFixture) ints(t *testing.T, name string) [][]int {
	t.Helper()
	st, ok := f.w.tensors[name]
	if !ok || st.dtype != "I64" {
		t.Fatalf("reference.safetensors has no I64 %s", name)
	}
	b := st.file.data[st.lo:st.hi]
	n := int(st.shape[len(st.shape)-1])
	var out [][]int
	for i := 0; i < len(b)/8; i++ {
		if i%n == 0 {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], int(int64(binary.LittleEndian.Uint64(b[8*i:]))))
	}
	return out
}

// janusCheck compares got with the reference's want within janusTol of its largest value.
func janusCheck(t *testing.T, a *raw.Arena, name string, got raw.Tensor, want []float32) {
	t.Helper()
	g := make([]float32, len(want))
	a.CopyToFloat32(a.Contiguous(a.To(got, raw.Float32)), g)
	if err := a.Err(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	janusCheckValues(t, name, g, want)
}

func janusCheckValues(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, the reference %d", name, len(got), len(want))
	}
	worst, scale := 0.0, 0.0
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	t.Logf("%s: max |Go - reference| %.3g of values up to %.3g", name, worst, scale)
	if !(worst <= janusTol*scale) {
		t.Errorf("%s: max |Go - reference| = %.3g, over %.0e of the largest value %.3g", name, worst, janusTol, scale)
	}
}

func loadJanusFixture(t *testing.T) *Janus {
	t.Helper()
	m, err := LoadJanus(janusDir, gotch.CPU, raw.Float32)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// The fixture's config reads as written by the reference script.
func TestJanusConfig(t *testing.T) {
	c, err := ReadJanusConfig(janusDir)
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
		if _, err := parseJanusConfig(bad, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming it", c.want, err)
		}
	}
}

// Understanding: the vision tower + aligner, the decoder's final hidden states and lm_head's
// logits on two left-padded rows, each with an image, equal the reference's.
func TestJanusUnderstandingMatchesReference(t *testing.T) {
	forEachJanusFixture(t, func(t *testing.T, m *Janus, f *janusFixture) {
		a := raw.New(-1)
		defer a.Free()
		px, _ := f.floats(t, a, "pixel_values")
		feats := m.ImageFeatures(a, px)
		_, want := f.floats(t, a, "image_embeds")
		janusCheck(t, a, "image_embeds", feats, want)
		in := JanusBatch{IDs: f.ints(t, "input_ids"), Mask: f.ints(t, "attention_mask"), Pos: f.ints(t, "position_ids")}
		h, err := m.forward(a, in, feats, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, want = f.floats(t, a, "hidden")
		janusCheck(t, a, "hidden", h, want)
		_, want = f.floats(t, a, "logits")
		janusCheck(t, a, "logits", m.textLogits(a, h), want)
	})
}

// The generation path: a batch mixing text, an image's placeholders and generated codes gives
// the reference's hidden states and generation_head logits.
func TestJanusGenerationPathMatchesReference(t *testing.T) {
	forEachJanusFixture(t, func(t *testing.T, m *Janus, f *janusFixture) {
		a := raw.New(-1)
		defer a.Free()
		px, _ := f.floats(t, a, "pixel_values")
		feats := m.ImageFeatures(a, a.Narrow(px, 0, 0, 1))
		in := JanusBatch{IDs: f.ints(t, "gen_input_ids"), Codes: f.ints(t, "gen_codes"),
			Mask: f.ints(t, "gen_attention_mask"), Pos: f.ints(t, "gen_position_ids")}
		h, err := m.forward(a, in, feats, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, want := f.floats(t, a, "gen_hidden")
		janusCheck(t, a, "gen_hidden", h, want)
		_, want = f.floats(t, a, "gen_image_logits")
		janusCheck(t, a, "gen_image_logits", m.imageLogits(a, h), want)
	})
}

// Guided generation (greedy, scale 5, cached decoding) gives the reference's codes exactly; the
// VQ-VAE decodes them to its pixels and encodes those pixels to its codes.
func TestJanusGuidedGenerationMatchesReference(t *testing.T) {
	forEachJanusFixture(t, func(t *testing.T, m *Janus, f *janusFixture) {
		ids, mask := f.ints(t, "cfg_input_ids"), f.ints(t, "cfg_attention_mask")
		prompts := unpad(ids, mask)
		codes, err := m.GenerateImageCodes(prompts, ImageGenOptions{Scale: 5, Greedy: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := f.ints(t, "cfg_codes"); !reflect.DeepEqual(codes, want) {
			t.Fatalf("guided codes\n  Go        %v\n  reference %v", codes, want)
		}
		pix, err := m.DecodeCodes(codes)
		if err != nil {
			t.Fatal(err)
		}
		a := raw.New(-1)
		defer a.Free()
		_, want := f.floats(t, a, "cfg_pixels")
		janusCheckValues(t, "decoded pixels", pix, want)
		enc, err := m.EncodeCodes(want, len(codes))
		if err != nil {
			t.Fatal(err)
		}
		if w := f.ints(t, "vq_codes"); !reflect.DeepEqual(enc, w) {
			t.Errorf("VQ codes of the decoded pixels\n  Go        %v\n  reference %v", enc, w)
		}
		// A prompt that does not end with <begin_of_image> is refused.
		if _, err := m.GenerateImageCodes([][]int{{1, 5}}, ImageGenOptions{Scale: 5, Greedy: true}, nil); err == nil {
			t.Error("a prompt without <begin_of_image> at its end was accepted")
		}
	})
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

// Greedy text generation with images (cached decoding, left padding) gives the reference's
// tokens.
func TestJanusGenerateTextMatchesReference(t *testing.T) {
	forEachJanusFixture(t, func(t *testing.T, m *Janus, f *janusFixture) {
		a := raw.New(-1)
		defer a.Free()
		_, px := f.floats(t, a, "pixel_values")
		ids, mask := f.ints(t, "input_ids"), f.ints(t, "attention_mask")
		prompts := unpad(ids, mask)
		want := f.ints(t, "text_generate")
		got, err := m.GenerateText(prompts, px, GenerateOptions{MaxNew: len(want[0])})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("greedy text\n  Go        %v\n  reference %v", got, want)
		}
	})
}

// janusCopy writes a copy of the fixture's folder to a temporary one, its tensors edited.
func janusCopy(t *testing.T, m *Janus, edit func(a *raw.Arena, names map[string]raw.Tensor)) string {
	t.Helper()
	dir := t.TempDir()
	a := raw.New(-1)
	defer a.Free()
	names := map[string]raw.Tensor{}
	for k, v := range m.names {
		names[k] = v
	}
	edit(a, names)
	if err := SaveFolder(filepath.Join(dir, "model.safetensors"), gotch.CPU, names, janusDir, nil, nil); err != nil {
		t.Fatal(err)
	}
	return dir
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
		_, err := LoadJanus(dir, gotch.CPU, raw.Float32)
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
	m2, err := LoadJanus(dir, gotch.CPU, raw.Float32)
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
		n := Numel(a.Shape(p1[i].Tensor))
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

// WriteRandomJanus is deterministic in its seed and writes what transformers' _init_weights
// draws: weights of std initializer_range, zero biases, unit norms, a zero padding row.
// (Oracle: the rules of _init_weights in modeling_janus.py, checked statistically.)
func TestJanusWriteRandom(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cfg, err := ReadJanusConfig(janusDir)
	if err != nil {
		t.Fatal(err)
	}
	d1, d2, d3 := t.TempDir(), t.TempDir(), t.TempDir()
	for _, w := range []struct {
		dir  string
		seed uint64
	}{{d1, 5}, {d2, 5}, {d3, 6}} {
		if err := WriteRandomJanus(w.dir, cfg, w.seed); err != nil {
			t.Fatal(err)
		}
	}
	read := func(d string) []byte {
		b, err := os.ReadFile(filepath.Join(d, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Equal(read(d1), read(d2)) {
		t.Error("the same seed wrote different weights")
	}
	if bytes.Equal(read(d1), read(d3)) {
		t.Error("different seeds wrote the same weights")
	}
	m, err := LoadJanus(d1, gotch.CPU, raw.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !reflect.DeepEqual(m.cfg, cfg) {
		t.Errorf("config written %+v, read back %+v", cfg, m.cfg)
	}
	a := raw.New(-1)
	defer a.Free()
	values := func(name string) []float32 {
		x := m.names[name]
		out := make([]float32, Numel(a.Shape(x)))
		a.CopyToFloat32(a.To(x, raw.Float32), out)
		return out
	}
	var sum, sq float64
	var n int
	for _, name := range []string{"model.language_model.layers.0.mlp.up_proj.weight", "model.vision_model.encoder.layers.1.mlp.fc1.weight",
		"model.generation_head.vision_head.weight", "lm_head.weight", "model.vqmodel.decoder.conv_in.weight"} {
		for _, v := range values(name) {
			sum, sq, n = sum+float64(v), sq+float64(v)*float64(v), n+1
		}
	}
	mean, std := sum/float64(n), math.Sqrt(sq/float64(n)-(sum/float64(n))*(sum/float64(n)))
	if math.Abs(mean) > 1e-3 || math.Abs(std-0.02) > 1e-3 {
		t.Errorf("weights of mean %.3g and std %.3g, want 0 and 0.02", mean, std)
	}
	for name, want := range map[string]float32{"model.aligner.fc1.bias": 0, "model.vision_model.post_layernorm.weight": 1,
		"model.language_model.norm.weight": 1, "model.vqmodel.encoder.norm_out.weight": 1, "model.generation_aligner.fc1.bias": 0} {
		for _, v := range values(name) {
			if v != want {
				t.Fatalf("%s holds %v, want all %v", name, v, want)
			}
		}
	}
	for _, v := range values("model.language_model.embed_tokens.weight")[:cfg.Text.D] { // pad_token_id 0
		if v != 0 {
			t.Fatalf("the padding row of the token embeddings holds %v", v)
		}
	}
	if err := a.Err(); err != nil {
		t.Fatal(err)
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
	in := JanusBatch{IDs: [][]int{{1, 5, 98, 0, 0}}, Codes: [][]int{{-1, -1, -1, 3, 4}}}
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
	p, err := loadJanusImageProcessor(t.TempDir(), JanusVisionConfig{ImageSize: 32})
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
	m, err := LoadJanus(janusDir, gotch.CPU, raw.BFloat16)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	w := &Weights{dir: janusDir, tensors: map[string]*stTensor{}}
	if err := w.open(filepath.Join(janusDir, "reference.safetensors")); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f := &janusFixture{w}
	a := raw.New(-1)
	defer a.Free()
	px, _ := f.floats(t, a, "pixel_values")
	in := JanusBatch{IDs: f.ints(t, "input_ids"), Mask: f.ints(t, "attention_mask"), Pos: f.ints(t, "position_ids")}
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

// unpad keeps the tokens of each row that its attention mask opens (a left-padded batch's
// prompts).
func unpad(ids, mask [][]int) [][]int {
	out := make([][]int, len(ids))
	for r, row := range ids {
		for i, id := range row {
			if mask[r][i] == 1 {
				out[r] = append(out[r], id)
			}
		}
	}
	return out
}
