package janus

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// WriteRandom is deterministic in its seed and writes what transformers' _init_weights
// draws: weights of std initializer_range, zero biases, unit norms, a zero padding row.
// (Oracle: the rules of _init_weights in modeling_janus.py, checked statistically.)
func TestJanusWriteRandom(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cfg, err := ReadConfig(janusDir)
	if err != nil {
		t.Fatal(err)
	}
	d1, d2, d3 := t.TempDir(), t.TempDir(), t.TempDir()
	for _, w := range []struct {
		dir  string
		seed uint64
	}{{d1, 5}, {d2, 5}, {d3, 6}} {
		if err := WriteRandom(w.dir, cfg, w.seed); err != nil {
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
	m, err := Load(d1, gotch.CPU, raw.Float32)
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
		out := make([]float32, hf.Numel(a.Shape(x)))
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
