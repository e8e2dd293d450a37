package janus

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// The Janus VQ-VAE fixture (testdata/janus_vq, made by scripts/oracles/janus-vq.py): a tiny
// VQ-VAE (E 8, K 64, L 16, base 32, channel_multiplier [2, 1], one res block, 16x16 images, an
// 8x8 grid) with BF16 weights under model.vqmodel., and reference.safetensors with what the
// reference computed from them in float32.
const janusVQDir = "../testdata/janus_vq"
const janusVQPrefix = "model.vqmodel."

type janusVQFixture struct {
	cfg VQConfig
	ws  *hf.Weights // model.safetensors
	ref *hf.Weights // reference.safetensors
}

// openJanusVQFixture opens the fixture's config and reference, and the model.safetensors of dir
// (the fixture's own folder, or a damaged copy).
func openJanusVQFixture(t *testing.T, dir string) *janusVQFixture {
	t.Helper()
	js, err := os.ReadFile(filepath.Join(janusVQDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	f := &janusVQFixture{}
	if f.cfg, err = parseVQConfig(js); err != nil {
		t.Fatal(err)
	}
	if f.ws, err = hf.OpenWeights(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.ws.Close() })
	if f.ref, err = hf.OpenSafetensors(filepath.Join(janusVQDir, "reference.safetensors")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.ref.Close() })
	return f
}

// tensor loads a float tensor of the reference onto a.
func (f *janusVQFixture) tensor(t *testing.T, a *raw.Arena, name string) raw.Tensor {
	t.Helper()
	shape, ok := f.ref.Shape(name)
	if !ok {
		t.Fatalf("reference.safetensors has no %s", name)
	}
	x, err := f.ref.Load(a, name, raw.Float32, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// codes reads the reference's int64 codes [B, h*w].
func (f *janusVQFixture) codes(t *testing.T) ([]int64, []int64) {
	t.Helper()
	dtype, shape, b, ok := f.ref.Raw("codes")
	if !ok || dtype != "I64" || len(shape) != 2 {
		t.Fatal("reference.safetensors has no I64 codes [B, h*w]")
	}
	out := make([]int64, len(b)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out, shape
}

// janusVQValues copies a tensor (any float kind or int64) into float32 values.
func janusVQValues(t *testing.T, a *raw.Arena, x raw.Tensor) []float32 {
	t.Helper()
	x = a.To(x, raw.Float32)
	shape := a.Shape(x)
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	out := make([]float32, n)
	a.CopyToFloat32(x, out)
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// janusVQCompare checks got against want within tol * max|want| and returns the relative max
// error.
func janusVQCompare(t *testing.T, name string, got, want []float32, tol float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, the reference has %d", name, len(got), len(want))
	}
	scale, worst := 0.0, 0.0
	for i := range want {
		scale = math.Max(scale, math.Abs(float64(want[i])))
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if d != d {
			d = math.Inf(1)
		}
		worst = math.Max(worst, d)
	}
	rel := worst / math.Max(scale, 1e-30)
	t.Logf("%-14s max |diff| %.3g, max |ref| %.3g, relative %.3g", name, worst, scale, rel)
	if rel > tol {
		t.Errorf("%s: max |diff| %.3g is %.3g of max |ref| %.3g (tolerance %g)", name, worst, rel, scale, tol)
	}
	return rel
}

// TestJanusVQMatchesReference runs the fixture's VQ-VAE forward and backward and compares every
// output, codes exactly. Oracle: a PyTorch 1.13 reference written from transformers'
// modeling_janus.py (scripts/oracles/janusref/vq.py), run by scripts/oracles/janus-vq.py.
func TestJanusVQMatchesReference(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer raw.SetGradEnabled(raw.SetGradEnabled(true))
	f := openJanusVQFixture(t, janusVQDir)
	a := raw.New(-1)
	defer a.Free()
	names := map[string]raw.Tensor{}
	var order []string
	q, err := loadVQ(f.ws, a, janusVQPrefix, f.cfg, raw.Float32, names, &order)
	if err != nil {
		t.Fatal(err)
	}
	// The loader reads every tensor of the checkpoint (157 for this config) and nothing else.
	if len(order) != len(f.ws.Names()) || len(names) != len(order) {
		t.Errorf("loaded %d tensors (%d names), the checkpoint has %d", len(order), len(names), len(f.ws.Names()))
	}
	for _, n := range f.ws.Names() {
		if _, ok := names[n]; !ok {
			t.Errorf("checkpoint tensor %s was not loaded", n)
		}
	}
	convIn := names[janusVQPrefix+"encoder.conv_in.weight"]
	codebook := names[janusVQPrefix+"quantize.embedding.weight"]
	for _, w := range []raw.Tensor{convIn, codebook} {
		if err := raw.SetRequiresGrad(w, true); err != nil {
			t.Fatal(err)
		}
	}

	px := f.tensor(t, a, "pixels")
	z := q.encode(a, px)
	zq, codes, loss := q.quantize(a, z)
	dec := q.decode(a, zq)
	obj := a.Add(a.Sum(a.Mul(dec, f.tensor(t, a, "probe"))), loss)
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	if s := a.Shape(codes); len(s) != 2 || s[0] != 2 || s[1] != 64 {
		t.Fatalf("codes of shape %v, want [2, 64]", s)
	}
	kept := a.Keep(obj)
	if err := kept.Backward(); err != nil {
		t.Fatal(err)
	}
	kept.MustDrop()

	const tol = 1e-5
	cmp := func(name string, got raw.Tensor) {
		janusVQCompare(t, name, janusVQValues(t, a, got), janusVQValues(t, a, f.tensor(t, a, name)), tol)
	}
	cmp("z", z)
	cmp("zq", zq)
	cmp("loss", a.View(loss, 1))
	cmp("decoded", dec)
	cmp("grad_conv_in", a.Grad(convIn))
	cmp("grad_codebook", a.Grad(codebook))

	want, shape := f.codes(t)
	got := janusVQValues(t, a, codes)
	wrong := 0
	for i := range want {
		if int64(got[i]) != want[i] {
			wrong++
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d codes differ from the reference", wrong, len(want))
	}

	// Decoding token ids: the reference's codes through the l2-normalised codebook.
	refCodes := a.FromInt64(want, shape...)
	zc := q.embedCodes(a, refCodes, 8, 8)
	cmp("zq_codes", zc)
	cmp("decoded_codes", q.decode(a, zc))
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestJanusVQConfig: transformers' defaults fill an empty vq_config, and each value the VQ-VAE
// cannot be built with is an error naming it. Oracle: transformers' configuration_janus.py
// (JanusVQVAEConfig's defaults) and the GroupNorm(32) layers of the PyTorch 1.13 reference
// written from transformers' modeling_janus.py (scripts/oracles/janusref/vq.py).
func TestJanusVQConfig(t *testing.T) {
	c, err := parseVQConfig([]byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.EmbedDim != 8 || c.NumEmbeddings != 16384 || c.LatentChannels != 256 || c.BaseChannels != 128 ||
		len(c.ChannelMultiplier) != 5 || c.NumResBlocks != 2 || c.InitializerRange != 0.02 || c.HiddenAct != "gelu" {
		t.Errorf("defaults: %+v", c)
	}
	if d, err := parseVQConfig(nil); err != nil || d.String() != c.String() {
		t.Errorf("no vq_config: %v, %v; want the defaults %v", d, err, c)
	}
	if g := c.Grid(384); g != 24 {
		t.Errorf("Grid(384) with 5 levels = %d, want 24 (Janus's 576 image tokens)", g)
	}
	if n := len(vqParams(c)); n != 343 {
		t.Errorf("the default VQ-VAE has %d tensors; the reference's state_dict has 343", n)
	}
	for _, bad := range []struct{ js, want string }{
		{`{"base_channels": 48}`, "base_channels 48 is not a multiple of 32"},
		{`{"base_channels": 32, "channel_multiplier": []}`, "channel_multiplier is empty"},
		{`{"channel_multiplier": [1, 0]}`, "channel_multiplier[1] is 0"},
		{`{"double_latent": true}`, "double_latent"},
		{`{"embed_dim": 0}`, "embed_dim is 0"},
		{`{"dropout": 1.5}`, "dropout"},
		{`{"num_res_blocks": "two"}`, "vq_config"},
	} {
		_, err := parseVQConfig([]byte(bad.js))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want one saying %q", bad.js, err, bad.want)
		}
	}
}

// TestJanusVQMissingTensor: a checkpoint without one tensor the config implies is an error naming
// it. Oracle: the state_dict names of the PyTorch 1.13 reference written from transformers'
// modeling_janus.py (scripts/oracles/janusref/vq.py), which the fixture holds.
func TestJanusVQMissingTensor(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(janusVQDir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	const drop = janusVQPrefix + "decoder.up.1.block.0.nin_shortcut.weight"
	n := binary.LittleEndian.Uint64(data[:8])
	var head map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &head); err != nil {
		t.Fatal(err)
	}
	if _, ok := head[drop]; !ok {
		t.Fatalf("the fixture has no %s", drop)
	}
	delete(head, drop) // its bytes stay in the file, unnamed
	js, _ := json.Marshal(head)
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(js)))
	out = append(append(out, js...), data[8+n:]...)
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	f := openJanusVQFixture(t, dir)
	a := raw.New(-1)
	defer a.Free()
	var order []string
	_, err = loadVQ(f.ws, a, janusVQPrefix, f.cfg, raw.Float32, map[string]raw.Tensor{}, &order)
	if err == nil || !strings.Contains(err.Error(), drop) {
		t.Fatalf("loading without %s: error %v, want one naming it", drop, err)
	}
	// A config that implies other shapes names the tensor whose shape differs.
	cfg := f.cfg
	cfg.LatentChannels = 32
	_, err = loadVQ(f.ws, a, janusVQPrefix, cfg, raw.Float32, map[string]raw.Tensor{}, &order)
	if err == nil || !strings.Contains(err.Error(), "encoder.conv_out.weight") {
		t.Fatalf("latent_channels 32 against a checkpoint of 16: error %v, want one naming encoder.conv_out.weight", err)
	}
}

// TestJanusVQInitDeterministic: initVQ draws the same tensors from the same seed and other
// ones from another seed, with transformers' _init_weights scheme (conv weights ~ N(0, 0.02),
// biases 0, GroupNorm weights 1). Oracle: transformers' JanusPreTrainedModel._init_weights, as
// the PyTorch 1.13 reference written from transformers' modeling_janus.py (scripts/oracles/janusref/vq.py)
// repeats it in init_weights.
func TestJanusVQInitDeterministic(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f := openJanusVQFixture(t, janusVQDir)
	a := raw.New(-1)
	defer a.Free()
	draw := func(seed uint64) (*vqModel, map[string]raw.Tensor, []string) {
		names := map[string]raw.Tensor{}
		var order []string
		q := initVQ(a, janusVQPrefix, f.cfg, seed, names, &order)
		return q, names, order
	}
	q1, n1, o1 := draw(7)
	_, n2, _ := draw(7)
	_, n3, _ := draw(8)
	if len(o1) != len(f.ws.Names()) {
		t.Errorf("init made %d tensors, the checkpoint has %d", len(o1), len(f.ws.Names()))
	}
	for _, name := range f.ws.Names() {
		want, _ := f.ws.Shape(name)
		if got := a.Shape(n1[name]); !slices.Equal(got, want) {
			t.Errorf("%s: init shape %v, checkpoint %v", name, got, want)
		}
	}
	same := func(x, y raw.Tensor) bool {
		u, v := janusVQValues(t, a, x), janusVQValues(t, a, y)
		for i := range u {
			if u[i] != v[i] {
				return false
			}
		}
		return true
	}
	for _, name := range o1 {
		if !same(n1[name], n2[name]) {
			t.Errorf("%s differs between two draws of seed 7", name)
		}
	}
	w := janusVQPrefix + "decoder.mid.block_1.conv1.weight"
	if same(n1[w], n3[w]) {
		t.Errorf("%s is the same for seeds 7 and 8", w)
	}
	vals := janusVQValues(t, a, n1[w])
	var s2 float64
	for _, v := range vals {
		s2 += float64(v) * float64(v)
	}
	if std := math.Sqrt(s2 / float64(len(vals))); math.Abs(std-0.02) > 0.002 {
		t.Errorf("%s: std %.4f, want 0.02 (initializer_range)", w, std)
	}
	for name, want := range map[string]float32{"decoder.mid.block_1.conv1.bias": 0, "encoder.norm_out.weight": 1, "encoder.norm_out.bias": 0} {
		for _, v := range janusVQValues(t, a, n1[janusVQPrefix+name]) {
			if v != want {
				t.Errorf("%s holds %v, want all %v", name, v, want)
				break
			}
		}
	}
	// The drawn model runs: a forward pass gives an image of the input's shape.
	px := a.Zeros(1, 3, 16, 16)
	zq, _, _ := q1.quantize(a, q1.encode(a, px))
	out := a.Shape(q1.decode(a, zq))
	if err := a.Err(); err != nil || !slices.Equal(out, []int64{1, 3, 16, 16}) {
		t.Errorf("forward of the drawn model: shape %v, %v", out, err)
	}
}

// TestJanusVQBFloat16 runs the fixture's VQ-VAE with bfloat16 convolutions (GroupNorm and code
// distances in float32) and checks the outputs against the float32 reference within bfloat16's
// precision. Oracle: a PyTorch 1.13 reference written from transformers' modeling_janus.py
// (scripts/oracles/janusref/vq.py), in float32.
func TestJanusVQBFloat16(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f := openJanusVQFixture(t, janusVQDir)
	a := raw.New(-1)
	defer a.Free()
	var order []string
	q, err := loadVQ(f.ws, a, janusVQPrefix, f.cfg, raw.BFloat16, map[string]raw.Tensor{}, &order)
	if err != nil {
		t.Fatal(err)
	}
	z := q.encode(a, a.To(f.tensor(t, a, "pixels"), raw.BFloat16))
	want, shape := f.codes(t)
	dec := q.decode(a, q.embedCodes(a, a.FromInt64(want, shape...), 8, 8))
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	janusVQCompare(t, "z", janusVQValues(t, a, z), janusVQValues(t, a, f.tensor(t, a, "z")), 0.1)
	janusVQCompare(t, "decoded_codes", janusVQValues(t, a, dec), janusVQValues(t, a, f.tensor(t, a, "decoded_codes")), 0.1)
}
