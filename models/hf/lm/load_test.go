package lm

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
)

// copyFixture copies a fixture's config.json and model.safetensors into a new folder.
func copyFixture(t *testing.T, family string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		data, err := os.ReadFile(filepath.Join(hftest.Dir(family), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// shard splits a folder's model.safetensors into two shards with an index, as Hugging Face saves
// large models.
func shard(t *testing.T, dir string) {
	t.Helper()
	data, _ := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	n := binary.LittleEndian.Uint64(data[:8])
	var head map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &head); err != nil {
		t.Fatal(err)
	}
	type entry struct {
		DType   string  `json:"dtype"`
		Shape   []int64 `json:"shape"`
		Offsets [2]int  `json:"data_offsets"`
	}
	parts := []map[string]any{{}, {}}
	blobs := [][]byte{nil, nil}
	weightMap := map[string]string{}
	i := 0
	for name, r := range head {
		if name == "__metadata__" {
			continue
		}
		var e entry
		json.Unmarshal(r, &e)
		k := i % 2
		i++
		src := data[8+int(n)+e.Offsets[0] : 8+int(n)+e.Offsets[1]]
		e.Offsets = [2]int{len(blobs[k]), len(blobs[k]) + len(src)}
		blobs[k] = append(blobs[k], src...)
		parts[k][name] = e
		weightMap[name] = []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}[k]
	}
	for k, name := range []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		js, _ := json.Marshal(parts[k])
		var out []byte
		out = binary.LittleEndian.AppendUint64(out, uint64(len(js)))
		out = append(append(out, js...), blobs[k]...)
		os.WriteFile(filepath.Join(dir, name), out, 0o644)
	}
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
	os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), idx, 0o644)
	os.Remove(filepath.Join(dir, "model.safetensors"))
}

// Oracle: the unchanged fixture, which loads; each damage is a clear error naming what is wrong.
func TestLoadErrors(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	editConfig := func(dir, old, new string) {
		p := filepath.Join(dir, "config.json")
		js, _ := os.ReadFile(p)
		os.WriteFile(p, []byte(strings.Replace(string(js), old, new, 1)), 0o644)
	}
	sharded := copyFixture(t, "qwen2")
	shard(t, sharded)
	m, err := Load(sharded, gotch.CPU, raw.Float32)
	if err != nil {
		t.Fatalf("a sharded folder: %v", err)
	}
	m.Close()
	for _, c := range []struct {
		name   string
		damage func(dir string)
		want   string
	}{
		{"missing shard", func(dir string) { shard(t, dir); os.Remove(filepath.Join(dir, "model-00002-of-00002.safetensors")) }, "model-00002-of-00002.safetensors is missing"},
		{"truncated file", func(dir string) {
			p := filepath.Join(dir, "model.safetensors")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)-100], 0o644)
		}, "truncated"},
		{"wrong shape", func(dir string) { editConfig(dir, `"intermediate_size": 96`, `"intermediate_size": 97`) }, "has shape [96 64]"},
		{"unknown model_type", func(dir string) { editConfig(dir, `"model_type": "qwen2"`, `"model_type": "mamba"`) }, `model_type "mamba"`},
		{"missing tensor", func(dir string) { editConfig(dir, `"num_hidden_layers": 2`, `"num_hidden_layers": 3`) }, "no tensor model.layers.2"},
		{"unexpected tensor", func(dir string) { editConfig(dir, `"num_hidden_layers": 2`, `"num_hidden_layers": 1`) }, "not part of a qwen2 model"},
		{"no config", func(dir string) { os.Remove(filepath.Join(dir, "config.json")) }, "config.json"},
	} {
		dir := copyFixture(t, "qwen2")
		c.damage(dir)
		m, err := Load(dir, gotch.CPU, raw.Float32)
		if err == nil {
			m.Close()
			t.Errorf("%s: loaded", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want it to mention %q", c.name, err, c.want)
		}
	}
}
