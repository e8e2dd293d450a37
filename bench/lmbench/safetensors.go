package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// count is the number of values of a tensor of this shape.
func count(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// writeWeights streams a safetensors file: the header, then each tensor's float32 values drawn
// chunk by chunk (N(0, std), or ones for norms), so that no tensor is ever held whole.
func writeWeights(w *bufio.Writer, specs []tensorSpec, seed uint64, std float64) error {
	type entry struct {
		DType   string   `json:"dtype"`
		Shape   []int64  `json:"shape"`
		Offsets [2]int64 `json:"data_offsets"`
	}
	head := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var off int64
	for _, t := range specs {
		n := 4 * count(t.shape)
		head[t.name] = entry{DType: "F32", Shape: t.shape, Offsets: [2]int64{off, off + n}}
		off += n
	}
	js, err := json.Marshal(head)
	if err != nil {
		return err
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	var n8 [8]byte
	binary.LittleEndian.PutUint64(n8[:], uint64(len(js)))
	if _, err := w.Write(append(n8[:], js...)); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 0x6c6d62656e6368)) // "lmbench"
	one := math.Float32bits(1)
	var b [4]byte
	for _, t := range specs {
		for i := count(t.shape); i > 0; i-- {
			v := one
			if !t.ones {
				v = math.Float32bits(float32(rng.NormFloat64() * std))
			}
			binary.LittleEndian.PutUint32(b[:], v)
			if _, err := w.Write(b[:]); err != nil {
				return err
			}
		}
	}
	return nil
}

// weightBytes sums the tensors of dir/model.safetensors as kind (its header only is read).
func weightBytes(dir string, kind raw.Kind) (int64, error) {
	f, err := os.Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n8 [8]byte
	if _, err := f.ReadAt(n8[:], 0); err != nil {
		return 0, err
	}
	js := make([]byte, binary.LittleEndian.Uint64(n8[:]))
	if _, err := f.ReadAt(js, 8); err != nil {
		return 0, err
	}
	var head map[string]json.RawMessage
	if err := json.Unmarshal(js, &head); err != nil {
		return 0, err
	}
	var total int64
	for name, e := range head {
		if name == "__metadata__" {
			continue
		}
		var t struct {
			Shape []int64 `json:"shape"`
		}
		if err := json.Unmarshal(e, &t); err != nil {
			return 0, err
		}
		total += count(t.Shape) * int64(kind.Size())
	}
	return total, nil
}
