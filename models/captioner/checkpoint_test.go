package captioner

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
)

// TestSaveLoadRoundTrip: weights, config and metadata survive Save and Load bit for bit, the
// loaded model scores captions identically, and no temporary file is left behind.
func TestSaveLoadRoundTrip(t *testing.T) {
	cfg := tinyConfig()
	cfg.ProjectorHidden = 24
	m := newModel(t, cfg, 12)
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.safetensors")
	meta := map[string]string{"step": "1500", "note": "sft"}
	if err := m.Save(path, meta); err != nil {
		t.Fatal(err)
	}
	// Saving again over the file replaces it atomically.
	if err := m.Save(path, meta); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("folder holds %d entries after Save, want only the checkpoint", len(entries))
	}

	l, gotMeta, err := Load(path, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Config() != cfg {
		t.Fatalf("loaded config %+v, saved %+v", l.Config(), cfg)
	}
	if len(gotMeta) != len(meta) || gotMeta["step"] != "1500" || gotMeta["note"] != "sft" {
		t.Fatalf("loaded metadata %v, saved %v", gotMeta, meta)
	}
	want, got := paramValues(t, m), paramValues(t, l)
	for name, w := range want {
		g := got[name]
		for i := range w {
			if math.Float32bits(w[i]) != math.Float32bits(g[i]) {
				t.Fatalf("%s[%d]: saved %g, loaded %g", name, i, w[i], g[i])
			}
		}
	}

	// The config is readable from the file's metadata without the model, as Python would.
	data, _ := os.ReadFile(path)
	n := binary.LittleEndian.Uint64(data[:8])
	var header struct {
		Meta map[string]string `json:"__metadata__"`
	}
	if err := json.Unmarshal(data[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	var fromFile Config
	if err := json.Unmarshal([]byte(header.Meta["policy.config"]), &fromFile); err != nil || fromFile != cfg {
		t.Fatalf("policy.config metadata %q (%v)", header.Meta["policy.config"], err)
	}

	images, _ := scenes(t, cfg, 2, 5)
	caps := [][]int{{5, 9, cfg.EOS}, {7}}
	s1, err := m.LogProbs(images, 1, caps, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Drop()
	s2, err := l.LogProbs(images, 1, caps, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Drop()
	if v1, v2 := s1.LogProbs.Float64Values(), s2.LogProbs.Float64Values(); !slices.Equal(v1, v2) {
		t.Fatalf("log-probs differ after reload: %v vs %v", v1, v2)
	}

	// LoadWeights into a differently initialised model of the same config.
	o := newModel(t, cfg, 99)
	if _, err := o.LoadWeights(path); err != nil {
		t.Fatal(err)
	}
	got = paramValues(t, o)
	for name, w := range want {
		if !slices.Equal(w, got[name]) {
			t.Fatalf("LoadWeights: %s differs", name)
		}
	}
}

// TestLoadErrors: truncated files, non-safetensors files and config mismatches give errors
// that say what is wrong, and a failed LoadWeights leaves the model unchanged.
func TestLoadErrors(t *testing.T) {
	cfg := tinyConfig()
	m := newModel(t, cfg, 1)
	dir := t.TempDir()
	path := filepath.Join(dir, "ok.safetensors")
	if err := m.Save(path, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	n := binary.LittleEndian.Uint64(data[:8])
	cases := []struct {
		name, path, want string
	}{
		{"truncated data", write("cut.safetensors", data[:len(data)-100]), "truncated"},
		{"truncated header", write("head.safetensors", data[:8+n/2]), "truncated"},
		{"tiny", write("tiny.safetensors", data[:5]), "not a safetensors file"},
		{"text", write("text.safetensors", []byte("this is a text file, not a checkpoint at all")), "not a safetensors file"},
		{"missing", filepath.Join(dir, "nope.safetensors"), "no such file"},
	}
	for _, c := range cases {
		_, _, err := Load(c.path, gotch.CPU)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Load error %v, want one containing %q", c.name, err, c.want)
		}
	}

	other := cfg
	other.Dim, other.Heads = 16, 2
	o := newModel(t, other, 2)
	before := paramValues(t, o)
	_, err = o.LoadWeights(path)
	if err == nil || !strings.Contains(err.Error(), "Dim 32 vs 16") ||
		!strings.Contains(err.Error(), "model expects [") {
		t.Fatalf("LoadWeights of a Dim 32 checkpoint into a Dim 16 model: %v", err)
	}
	t.Log(err)
	after := paramValues(t, o)
	for name, v := range before {
		if !slices.Equal(v, after[name]) {
			t.Fatalf("failed LoadWeights changed %s", name)
		}
	}
	if err := m.Save(filepath.Join(dir, "x.safetensors"), map[string]string{"policy.config": "{}"}); err == nil {
		t.Fatal("Save accepted a reserved metadata key")
	}
}

// TestSeedAndCopy: a seed fixes the initial weights; CopyFrom and Clone copy them.
func TestSeedAndCopy(t *testing.T) {
	cfg := tinyConfig()
	a, b, c := newModel(t, cfg, 5), newModel(t, cfg, 5), newModel(t, cfg, 6)
	va, vb, vc := paramValues(t, a), paramValues(t, b), paramValues(t, c)
	differs := false
	for name, v := range va {
		if !slices.Equal(v, vb[name]) {
			t.Fatalf("seed 5 twice: %s differs", name)
		}
		differs = differs || !slices.Equal(v, vc[name])
	}
	if !differs {
		t.Fatal("seeds 5 and 6 give the same weights")
	}
	if err := c.CopyFrom(a); err != nil {
		t.Fatal(err)
	}
	d, err := a.Clone()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	vc, vd := paramValues(t, c), paramValues(t, d)
	for name, v := range va {
		if !slices.Equal(v, vc[name]) || !slices.Equal(v, vd[name]) {
			t.Fatalf("copy: %s differs", name)
		}
	}
	other := cfg
	other.Layers = 3
	if err := newModel(t, other, 1).CopyFrom(a); err == nil {
		t.Fatal("CopyFrom between configs succeeded")
	}
}

// TestDefaultConfig: the default config is valid, has the documented token count and a
// parameter count in the intended range; invalid configs name the field.
func TestDefaultConfig(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if p := cfg.ImageTokens(); p != 64 {
		t.Fatalf("default image tokens %d, want 64", p)
	}
	m := newModel(t, cfg, 1)
	n := m.NumParams()
	t.Logf("default model: %d parameters (vision %d, projector %d, lm %d)",
		n, m.NumParams(Vision), m.NumParams(Projector), m.NumParams(LM))
	if n < 1_000_000 || n > 3_000_000 {
		t.Fatalf("default model has %d parameters, want 1M-3M", n)
	}
	if n != m.NumParams(Vision)+m.NumParams(Projector)+m.NumParams(LM) {
		t.Fatal("group parameter counts do not add up")
	}
	for _, c := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.Heads = 3 }, "Heads (3) must divide Dim (128)"},
		{func(c *Config) { c.ImageSize = 30 }, "multiple of 4"},
		{func(c *Config) { c.EOS = c.BOS }, "distinct"},
		{func(c *Config) { c.PAD = c.Vocab }, "PAD id"},
		{func(c *Config) { c.MaxLen = 0 }, "MaxLen"},
	} {
		bad := DefaultConfig()
		c.mut(&bad)
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate: %v, want an error containing %q", err, c.want)
		}
	}
}
