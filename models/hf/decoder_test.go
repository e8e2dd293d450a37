package hf

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// The decoder's cache is allocated once, at the first step, for its capacity, and written in
// place: it holds one set of keys and values however many steps run, and a step past the
// capacity is refused with an error that says so. Oracle: the cache's shape arithmetic (layers x
// keys and values of [rows, KV, capacity, Dh]).
func TestDecoderCacheStaysOneCopy(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := loadDecoder(t, filepath.Join("testdata", "transformers", "llama"))
	dec := m.NewStepper(8)
	defer dec.Close()
	in := Batch{IDs: [][]int{{1, 2, 3}}, Pos: [][]int{{0, 1, 2}}, Mask: [][]int{{1, 1, 1}}}
	c := m.Config()
	want := int64(2 * c.Layers * c.KV * 8 * c.Dh * 4)
	for step := range 6 {
		if err := dec.Step(in); err != nil {
			t.Fatal(err)
		}
		if n, b := dec.cache.keep.Len(), dec.CacheBytes(); n != 2*len(m.layers) || b != want {
			t.Fatalf("step %d: the cache holds %d handles of %d bytes, want %d of %d", step, n, b, 2*len(m.layers), want)
		}
		in = Batch{IDs: [][]int{{4}}, Pos: [][]int{{3 + step}}, Mask: [][]int{append(in.Mask[0], 1)}}
	}
	if f := dec.cache.Filled(); f != 8 {
		t.Fatalf("cache of %d positions after a prompt of 3 and 5 steps, want 8", f)
	}
	if err := dec.Step(in); err == nil || !strings.Contains(err.Error(), "full") {
		t.Fatalf("a step past the capacity gave %v, want an error saying the cache is full", err)
	}
}

// loadDecoder reads the decoder of a language model folder in float32 on the CPU; it is freed
// when the test ends.
func loadDecoder(t *testing.T, dir string) *Decoder {
	t.Helper()
	cfg, err := ReadLMConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := OpenWeights(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	m := NewDecoder(cfg, gotch.CPU, raw.Float32, "")
	t.Cleanup(m.Close)
	if err := m.Load(ws); err != nil {
		t.Fatal(err)
	}
	return m
}
