package hf

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// The decoder's cache holds one set of keys and values, however many steps run (the replaced
// ones are freed), and each step's temporaries are freed with it.
func TestDecoderCacheStaysOneCopy(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := loadDecoder(t, filepath.Join("testdata", "transformers", "llama"))
	dec := m.NewStepper()
	defer dec.Close()
	in := Batch{IDs: [][]int{{1, 2, 3}}, Pos: [][]int{{0, 1, 2}}, Mask: [][]int{{1, 1, 1}}}
	for step := range 6 {
		if err := dec.Step(in); err != nil {
			t.Fatal(err)
		}
		if n := dec.keep.Len(); n != 2*len(m.layers) {
			t.Fatalf("step %d: the cache arena holds %d handles, want %d", step, n, 2*len(m.layers))
		}
		in = Batch{IDs: [][]int{{4}}, Pos: [][]int{{3 + step}}, Mask: [][]int{append(in.Mask[0], 1)}}
	}
	if sh := dec.keep.Shape(dec.cache.k[0]); sh[2] != 8 {
		t.Fatalf("cache of %v after a prompt of 3 and 5 steps, want 8 positions", sh)
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
