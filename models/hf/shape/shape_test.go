package shape_test

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
	"github.com/unigrpo/unigrpo/models/hf/janus"
	"github.com/unigrpo/unigrpo/models/hf/lm"
	"github.com/unigrpo/unigrpo/models/hf/qwenvl"
	"github.com/unigrpo/unigrpo/models/hf/shape"
)

// loaded is one tensor as a loader allocated it.
type loaded struct {
	shape []int64
	bytes int64
}

// load opens a fixture with the project's loader of its family, in kind, and returns its tensors
// by name with their shapes and the bytes they hold (elements x element size of their dtype).
func load(t *testing.T, family, dir string, kind raw.Kind) map[string]loaded {
	t.Helper()
	a := raw.New(-1)
	defer a.Free()
	out := map[string]loaded{}
	add := func(name string, x raw.Tensor) {
		out[name] = loaded{shape: a.Shape(x), bytes: raw.Bytes(x)}
	}
	switch family {
	case "llama", "qwen2":
		m, err := lm.Load(dir, gotch.CPU, kind)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		for n, x := range m.Tensors() {
			add(n, x)
		}
	case "qwen2_5_vl":
		m, err := qwenvl.Load(dir, gotch.CPU, kind)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		for n, x := range m.Tensors() {
			add(n, x)
		}
	case "janus":
		m, err := janus.Load(dir, gotch.CPU, kind)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		for _, p := range m.Params() {
			add(p.Name, p.Tensor)
		}
	default:
		t.Fatalf("no loader for %s", family)
	}
	if err := a.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// tiedQwen2 is the qwen2 fixture with tie_word_embeddings on: its lm_head.weight stays in the
// folder (a tied copy the loader accepts and does not read).
func tiedQwen2(t *testing.T) string {
	t.Helper()
	src := hftest.Dir("qwen2")
	dir := t.TempDir()
	js, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	js = []byte(string(js[:len(js)-2]) + ",\n  \"tie_word_embeddings\": true\n}\n")
	if err := os.WriteFile(filepath.Join(dir, "config.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(abs, filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Oracle: the tensors the project's loaders allocate. For every fixture family, in float32 and
// bfloat16, the tensors config.json implies are those the loader reads, name by name, with their
// shapes and bytes (the Float32 ones stay float32), and Bytes is the sum the loader allocated.
func TestTensorsAreWhatTheLoadersAllocate(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, c := range []struct{ family, dir string }{
		{"qwen2", hftest.Dir("qwen2")},
		{"llama", hftest.Dir("llama")},
		{"qwen2_5_vl", hftest.Dir("qwen2_5_vl")},
		{"janus", filepath.Join(hftest.Testdata, "janus")},
		{"qwen2", tiedQwen2(t)},
	} {
		m, err := shape.Read(c.dir)
		if err != nil {
			t.Fatal(err)
		}
		if m.Family != c.family {
			t.Errorf("%s: family %q, want %q", c.dir, m.Family, c.family)
		}
		for _, kind := range []raw.Kind{raw.Float32, raw.BFloat16} {
			got := load(t, c.family, c.dir, kind)
			var sum int64
			names := map[string]bool{}
			for _, ts := range m.Tensors {
				names[ts.Name] = true
				l, ok := got[ts.Name]
				switch {
				case !ok:
					t.Errorf("%s %v: %s is listed but the loader has no such tensor", c.dir, kind, ts.Name)
				case !slices.Equal(l.shape, ts.Shape):
					t.Errorf("%s %v: %s has shape %v, listed %v", c.dir, kind, ts.Name, l.shape, ts.Shape)
				case l.bytes != ts.Bytes(kind.Size()):
					t.Errorf("%s %v: %s holds %d bytes, listed %d", c.dir, kind, ts.Name, l.bytes, ts.Bytes(kind.Size()))
				}
				sum += l.bytes
			}
			for n := range got {
				if !names[n] {
					t.Errorf("%s %v: the loader has %s, which is not listed", c.dir, kind, n)
				}
			}
			if b := m.Bytes(kind.Size()); b != sum || len(got) != len(m.Tensors) {
				t.Errorf("%s %v: Bytes %d for %d tensors, the loader allocated %d in %d", c.dir, kind, b, len(m.Tensors), sum, len(got))
			}
		}
	}
}

// Oracle: the project's config readers (qwenvl.ReadConfig, janus.ReadConfig) accept the published
// configs of testdata and read the same decoder from them.
func TestPublishedConfigsReadByTheLoaders(t *testing.T) {
	for _, name := range []string{"qwen2_5_vl_3b", "qwen2_5_vl_7b", "janus_pro_7b"} {
		dir := filepath.Join("testdata", name)
		m, err := shape.Read(dir)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			D, F, L, H, KV, Dh, V int
			tied                  bool
		}
		if m.Family == "janus" {
			c, err := janus.ReadConfig(dir)
			if err != nil {
				t.Fatal(err)
			}
			x := c.Text
			d.D, d.F, d.L, d.H, d.KV, d.Dh, d.V, d.tied = x.D, x.F, x.Layers, x.H, x.KV, x.Dh, x.Vocab, x.TieEmbedding
		} else {
			c, err := qwenvl.ReadConfig(dir)
			if err != nil {
				t.Fatal(err)
			}
			x := c.Text
			d.D, d.F, d.L, d.H, d.KV, d.Dh, d.V, d.tied = x.D, x.F, x.Layers, x.H, x.KV, x.Dh, x.Vocab, x.TieEmbedding
		}
		x := m.Text
		if d.D != x.D || d.F != x.F || d.L != x.Layers || d.H != x.H || d.KV != x.KV || d.Dh != x.Dh || d.V != x.Vocab || d.tied != x.Tied {
			t.Errorf("%s: the loader reads %+v, shape %+v", name, d, x)
		}
	}
}

// Oracle: published parameter counts. Qwen2.5-VL-3B holds 3.75 B values (vision tower included;
// Hugging Face's listing, and scale-facts' 3.09 B language model + 0.67 B vision); Janus-Pro-7B
// about 7.42 B in deepseek-ai's original checkpoint, whose SigLIP keeps a 12.6 M attention-pool
// head that the transformers layout drops (testdata/README.md). Within 1%.
func TestPublishedParameterCounts(t *testing.T) {
	for _, c := range []struct {
		name      string
		total, lm float64
	}{{"qwen2_5_vl_3b", 3.75e9, 3.09e9}, {"qwen2_5_vl_7b", 8.29e9, 7.62e9}, {"janus_pro_7b", 7.42e9, 6.91e9}} {
		m, err := shape.Read(filepath.Join("testdata", c.name))
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []struct {
			what      string
			got, want float64
		}{{"total", float64(m.Count()), c.total}, {"language model", float64(m.Count(shape.PartLM)), c.lm}} {
			if r := x.got / x.want; r < 0.99 || r > 1.01 {
				t.Errorf("%s: %s %.4g parameters, published %.4g", c.name, x.what, x.got, x.want)
			}
		}
	}
}

// Oracle: Qwen2VLImageProcessor's smart_resize worked by hand. A 448 px image is 32 x 32
// patches of 14, 256 tokens after the 2 x 2 merge; 32 px is raised to the 56 x 56 minimum (4
// tokens); 500 px rounds to 504 (18 x 18 merged tokens = 324). Janus takes 576 whatever the side.
func TestImageTokens(t *testing.T) {
	for _, c := range []struct {
		dir        string
		side, want int
	}{
		{"testdata/qwen2_5_vl_3b", 448, 256}, {"testdata/qwen2_5_vl_3b", 32, 4}, {"testdata/qwen2_5_vl_3b", 500, 324},
		{"testdata/janus_pro_7b", 32, 576}, {hftest.Dir("qwen2"), 448, 0},
	} {
		m, err := shape.Read(c.dir)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := m.ImageTokens(c.side); err != nil || got != c.want {
			t.Errorf("%s at %d px: %d image tokens (%v), want %d", c.dir, c.side, got, err, c.want)
		}
	}
}

// Oracle: the messages a user needs. Folders the project does not train are refused by name.
func TestReadErrors(t *testing.T) {
	for _, c := range []struct{ js, want string }{
		{`{"model_type": "multi_modality"}`, "transformers layout"},
		{`{"model_type": "clip_vision_model"}`, "not a policy family"},
		{`{"hidden_size": 8}`, "no model_type"},
		{`{"model_type": "llama", "hidden_size": 0}`, "must be positive"},
		{`{"model_type": "llama", "vocab_size": 8, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 3, "num_key_value_heads": 2}`, "not a multiple"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(c.js), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := shape.Read(dir); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.js, err, c.want)
		}
	}
	if _, err := shape.Read(t.TempDir()); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("an empty folder: %v", err)
	}
}
