package hf

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/atomicfile"
	"github.com/unigrpo/unigrpo/internal/raw"
)

// lmFiles are the files of a language model's folder besides its weights.
func lmFiles() []string {
	return []string{"config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"}
}

// SaveFolder writes tensors (Hugging Face names) to path as a float32 safetensors file, with meta
// in its metadata, and copies the files of the model folder src that describe them (the
// language model's config, tokenizer and generation files, and extra) beside it; config.json is
// marked float32. Every file is written atomically. The folder of path is then a Hugging Face
// model folder, loadable here and by transformers.
func SaveFolder(path string, dev gotch.Device, tensors map[string]raw.Tensor, src string, meta map[string]string, extra []string) error {
	if err := writeSafetensors(path, dev, tensors, meta); err != nil {
		return err
	}
	for _, f := range append(lmFiles(), extra...) {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			continue // optional files
		}
		if f == "config.json" {
			data = float32Config(data)
		}
		if err := atomicfile.Write(filepath.Join(filepath.Dir(path), f), data); err != nil {
			return fmt.Errorf("hf: save: %w", err)
		}
	}
	return nil
}

// writeSafetensors writes tensors to path as a float32 safetensors file, names sorted, meta in
// its metadata (with format pt), one tensor at a time: saving holds one float32 copy of the
// largest tensor, not of the model.
func writeSafetensors(path string, dev gotch.Device, tensors map[string]raw.Tensor, meta map[string]string) error {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	js, err := safetensorsHeader(path, dev, tensors, names, meta)
	if err != nil {
		return err
	}
	err = atomicfile.WriteFunc(path, func(w io.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(js)))
		if _, err := w.Write(append(n[:], js...)); err != nil {
			return err
		}
		buf := make([]byte, 0, 1<<20)
		for _, name := range names {
			t := raw.New(dev.CInt())
			h := tensors[name]
			vals := make([]float32, Numel(t.Shape(h)))
			t.CopyToFloat32(t.Contiguous(t.To(t.Detach(h), raw.Float32)), vals)
			if err := t.Free(); err != nil {
				return fmt.Errorf("reading %s: %w", name, err)
			}
			for _, v := range vals {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
				if len(buf) >= 1<<20 {
					if _, err := w.Write(buf); err != nil {
						return err
					}
					buf = buf[:0]
				}
			}
		}
		_, err := w.Write(buf)
		return err
	})
	if err != nil {
		return fmt.Errorf("hf: save: %w", err)
	}
	return nil
}

// safetensorsHeader is the JSON header of the float32 file of tensors, in the order of names,
// padded with spaces to a multiple of 8 bytes.
func safetensorsHeader(path string, dev gotch.Device, tensors map[string]raw.Tensor, names []string, meta map[string]string) ([]byte, error) {
	type entry struct {
		DType   string  `json:"dtype"`
		Shape   []int64 `json:"shape"`
		Offsets [2]int  `json:"data_offsets"`
	}
	head := map[string]any{}
	md := map[string]string{"format": "pt"}
	for k, v := range meta {
		md[k] = v
	}
	head["__metadata__"] = md
	a := raw.New(dev.CInt())
	defer a.Free()
	off := 0
	for _, n := range names {
		shape := a.Shape(tensors[n])
		head[n] = entry{DType: "F32", Shape: shape, Offsets: [2]int{off, off + 4*Numel(shape)}}
		off += 4 * Numel(shape)
	}
	if err := a.Err(); err != nil {
		return nil, fmt.Errorf("hf: save %s: %w", path, err)
	}
	js, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	return js, nil
}

// float32Config records in config.json that the saved weights are float32.
func float32Config(js []byte) []byte {
	var c map[string]any
	if json.Unmarshal(js, &c) != nil {
		return js
	}
	c["dtype"] = "float32"
	out, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return js
	}
	return append(out, '\n')
}

// Numel is the number of values of a tensor of the shape.
func Numel(shape []int64) int {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	return n
}
