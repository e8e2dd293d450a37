package trainer

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// optimizer.safetensors holds the AdamW state over the flat vector of N trainable values: "m" and
// "v" (and "master" in a mixed-precision run) as float32 vectors of N, in that order, and the
// update count in its metadata. The layout does not depend on the number of ranks: rank 0 creates
// the file at its full size, then each rank writing state (rank 0 alone when the optimizer is
// replicated, every rank when it is sharded) writes its own range of every vector, in parallel.
// A resumed rank reads only the range it owns, so a run saved on 4 ranks resumes on 2 or 1.

// optimTensors are the vectors of the file, in file order.
func optimTensors(master bool) []string {
	if master {
		return []string{"m", "v", "master"}
	}
	return []string{"m", "v"}
}

type tensorEntry struct {
	DType   string   `json:"dtype"`
	Shape   []uint64 `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// createOptimFile writes the header of an optimizer file for n values and sizes the file; the
// data is written by writeOptimRange.
func createOptimFile(path string, n int, master bool, step int) error {
	header := map[string]any{"__metadata__": map[string]string{"step": strconv.Itoa(step)}}
	for i, name := range optimTensors(master) {
		header[name] = tensorEntry{DType: "F32", Shape: []uint64{uint64(n)}, Offsets: [2]int64{int64(i) * 4 * int64(n), int64(i+1) * 4 * int64(n)}}
	}
	js, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("optimizer state: %w", err)
	}
	var size [8]byte
	binary.LittleEndian.PutUint64(size[:], uint64(len(js)))
	_, err = f.Write(append(size[:], js...))
	if err == nil {
		err = f.Truncate(int64(8+len(js)) + int64(len(optimTensors(master)))*4*int64(n))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("optimizer state %s: %w", path, err)
	}
	return nil
}

// optimHeader reads an optimizer file's header: its vectors' byte offsets (from the start of the
// file), their length n and the update count.
func optimHeader(f *os.File) (offsets map[string]int64, n int, step int, err error) {
	name := filepath.Base(f.Name())
	var size [8]byte
	if _, err := f.ReadAt(size[:], 0); err != nil {
		return nil, 0, 0, fmt.Errorf("%s is not a readable safetensors file (truncated?): %w", name, err)
	}
	hl := binary.LittleEndian.Uint64(size[:])
	st, err := f.Stat()
	if err != nil {
		return nil, 0, 0, err
	}
	if hl > 1<<20 || int64(8+hl) > st.Size() {
		return nil, 0, 0, fmt.Errorf("%s is not a readable safetensors file (header of %d bytes in a file of %d)", name, hl, st.Size())
	}
	js := make([]byte, hl)
	if _, err := f.ReadAt(js, 8); err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", name, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, 0, 0, fmt.Errorf("%s has a damaged header: %w", name, err)
	}
	offsets, n = map[string]int64{}, -1
	for key, msg := range raw {
		if key == "__metadata__" {
			var meta map[string]string
			if json.Unmarshal(msg, &meta) == nil {
				step, _ = strconv.Atoi(meta["step"])
			}
			continue
		}
		var e tensorEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, 0, 0, fmt.Errorf("%s: tensor %q: %w", name, key, err)
		}
		if e.DType != "F32" || len(e.Shape) != 1 || e.Offsets[1]-e.Offsets[0] != 4*int64(e.Shape[0]) || (n >= 0 && int(e.Shape[0]) != n) {
			return nil, 0, 0, fmt.Errorf("%s: tensor %q is not a float32 vector of the file's length", name, key)
		}
		n = int(e.Shape[0])
		offsets[key] = 8 + int64(hl) + e.Offsets[0]
		if end := 8 + int64(hl) + e.Offsets[1]; end > st.Size() {
			return nil, 0, 0, fmt.Errorf("%s is truncated: %q ends at byte %d of %d", name, key, end, st.Size())
		}
	}
	for _, want := range []string{"m", "v"} {
		if _, ok := offsets[want]; !ok {
			return nil, 0, 0, fmt.Errorf("%s lacks the float32 tensor %q", name, want)
		}
	}
	return offsets, n, step, nil
}

// ioChunk is the number of values converted per read or write.
const ioChunk = 1 << 20

// writeOptimRange writes the state st of the values [lo, lo+len(st.M)) into an optimizer file
// created by createOptimFile, and flushes it to disk.
func writeOptimRange(path string, lo int, st *AdamW) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("optimizer state: %w", err)
	}
	defer f.Close()
	offsets, n, _, err := optimHeader(f)
	if err != nil {
		return err
	}
	if lo < 0 || lo+len(st.M) > n {
		return fmt.Errorf("optimizer state: range [%d, %d) outside the file's %d values", lo, lo+len(st.M), n)
	}
	vecs := map[string][]float32{"m": st.M, "v": st.V}
	if st.Master != nil {
		vecs["master"] = st.Master
	}
	buf := make([]byte, 4*ioChunk)
	for name, x := range vecs {
		at, ok := offsets[name]
		if !ok {
			return fmt.Errorf("optimizer state: the file has no %q", name)
		}
		for c := 0; c < len(x); c += ioChunk {
			part := x[c:min(c+ioChunk, len(x))]
			for i, v := range part {
				binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
			}
			if _, err := f.WriteAt(buf[:4*len(part)], at+4*int64(lo+c)); err != nil {
				return fmt.Errorf("optimizer state %s: %w", path, err)
			}
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("optimizer state %s: %w", path, err)
	}
	return nil
}

// optimFileLen returns the number of values an optimizer file holds.
func optimFileLen(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	_, n, _, err := optimHeader(f)
	return n, err
}

// readOptimRange reads the state of the values [lo, hi) from an optimizer file (its masters too
// when it holds them) and the update count its metadata records.
func readOptimRange(path string, lo, hi int) (*AdamW, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	offsets, n, step, err := optimHeader(f)
	if err != nil {
		return nil, err
	}
	if lo < 0 || hi > n || lo > hi {
		return nil, fmt.Errorf("%s holds %d values, not the range [%d, %d)", filepath.Base(path), n, lo, hi)
	}
	o := &AdamW{Step: step}
	buf := make([]byte, 4*ioChunk)
	read := func(name string) ([]float32, error) {
		x := make([]float32, hi-lo)
		for c := 0; c < len(x); c += ioChunk {
			part := x[c:min(c+ioChunk, len(x))]
			if _, err := f.ReadAt(buf[:4*len(part)], offsets[name]+4*int64(lo+c)); err != nil {
				return nil, fmt.Errorf("%s: %q: %w", filepath.Base(path), name, err)
			}
			for i := range part {
				part[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
			}
		}
		return x, nil
	}
	if o.M, err = read("m"); err != nil {
		return nil, err
	}
	if o.V, err = read("v"); err != nil {
		return nil, err
	}
	if _, ok := offsets["master"]; ok {
		if o.Master, err = read("master"); err != nil {
			return nil, err
		}
	}
	return o, nil
}
