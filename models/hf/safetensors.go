package hf

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"unsafe"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// Weights are the tensors of a model folder: model.safetensors, or the shards that
// model.safetensors.index.json names. Files are memory-mapped and each tensor is copied out only
// when asked for, so loading holds about one copy of the weights.
type Weights struct {
	dir     string
	files   []*stFile
	tensors map[string]*stTensor
}

type stFile struct {
	path string
	data []byte // the whole file, memory-mapped
}

type stTensor struct {
	name  string
	file  *stFile
	kind  raw.Kind
	dtype string
	shape []int64
	lo    int // absolute byte offsets in the file
	hi    int
}

// OpenWeights maps the safetensors files of a model folder and reads their headers. A missing
// shard, a header that is not JSON, an unknown dtype or offsets beyond the file's end (a
// truncated download) is an error naming the file.
func OpenWeights(dir string) (*Weights, error) {
	w := &Weights{dir: dir, tensors: map[string]*stTensor{}}
	var names []string
	index := filepath.Join(dir, "model.safetensors.index.json")
	if js, err := os.ReadFile(index); err == nil {
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(js, &idx); err != nil || len(idx.WeightMap) == 0 {
			return nil, fmt.Errorf("hf: %s is not a safetensors index with a weight_map (%v)", index, err)
		}
		seen := map[string]bool{}
		for _, f := range idx.WeightMap {
			if !seen[f] {
				seen[f] = true
				names = append(names, f)
			}
		}
		sort.Strings(names)
	} else if errors.Is(err, fs.ErrNotExist) {
		names = []string{"model.safetensors"}
	} else {
		return nil, fmt.Errorf("hf: %w", err)
	}
	for _, n := range names {
		if err := w.open(filepath.Join(dir, n)); err != nil {
			w.Close()
			return nil, err
		}
	}
	return w, nil
}

// OpenSafetensors maps one safetensors file (a fixture's expected outputs, say) as Weights.
func OpenSafetensors(path string) (*Weights, error) {
	w := &Weights{dir: filepath.Dir(path), tensors: map[string]*stTensor{}}
	if err := w.open(path); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

func (w *Weights) open(path string) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("hf: %s is missing: the model folder needs model.safetensors or every shard its index names", path)
		}
		return fmt.Errorf("hf: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("hf: %w", err)
	}
	size := int(st.Size())
	if size < 8 {
		return fmt.Errorf("hf: %s is %d bytes, too short for a safetensors file (truncated?)", path, size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("hf: mapping %s: %w", path, err)
	}
	file := &stFile{path: path, data: data}
	w.files = append(w.files, file)
	n := int(binary.LittleEndian.Uint64(data[:8]))
	if n <= 0 || 8+n > size {
		return fmt.Errorf("hf: %s: a header of %d bytes in a file of %d (truncated or not safetensors)", path, n, size)
	}
	var head map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &head); err != nil {
		return fmt.Errorf("hf: %s: the header is not JSON: %v", path, err)
	}
	for name, rawEntry := range head {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			DType   string  `json:"dtype"`
			Shape   []int64 `json:"shape"`
			Offsets [2]int  `json:"data_offsets"`
		}
		if err := json.Unmarshal(rawEntry, &e); err != nil {
			return fmt.Errorf("hf: %s: tensor %s: %v", path, name, err)
		}
		t := &stTensor{name: name, file: file, dtype: e.DType, shape: e.Shape, lo: 8 + n + e.Offsets[0], hi: 8 + n + e.Offsets[1]}
		switch e.DType {
		case "F32":
			t.kind = raw.Float32
		case "BF16":
			t.kind = raw.BFloat16
		case "F16":
			t.kind = raw.Float16
		default:
			t.kind = -1 // an integer or other tensor: listed, loadable only as what it is not
		}
		count := 1
		for _, d := range e.Shape {
			count *= int(d)
		}
		switch {
		case t.hi > size:
			return fmt.Errorf("hf: %s: tensor %s ends at byte %d of a %d-byte file (truncated download?)", path, name, t.hi, size)
		case t.lo > t.hi || (t.kind > 0 && t.hi-t.lo != count*t.kind.Size()):
			return fmt.Errorf("hf: %s: tensor %s has %d bytes for %s of shape %v", path, name, t.hi-t.lo, e.DType, e.Shape)
		}
		if _, dup := w.tensors[name]; dup {
			return fmt.Errorf("hf: tensor %s is in two files (%s)", name, path)
		}
		w.tensors[name] = t
	}
	return nil
}

// Dir is the model folder the tensors come from.
func (w *Weights) Dir() string { return w.dir }

// View returns the tensors of w that names maps to (a view name to a name in w; names w lacks
// are left out) under the view's names. The view shares w's mapped files: close w, not the view.
func (w *Weights) View(names map[string]string) *Weights {
	v := &Weights{dir: w.dir, tensors: map[string]*stTensor{}}
	for n, src := range names {
		if t, ok := w.tensors[src]; ok {
			v.tensors[n] = t
		}
	}
	return v
}

// Raw returns a tensor's dtype (as the file names it: F32, I64, U8, ...), shape and bytes as
// stored (little-endian), without a copy: the bytes are valid until w is closed. It is how
// integer tensors, which Load does not read, are read.
func (w *Weights) Raw(name string) (dtype string, shape []int64, data []byte, ok bool) {
	t, ok := w.tensors[name]
	if !ok {
		return "", nil, nil, false
	}
	return t.dtype, t.shape, t.file.data[t.lo:t.hi], true
}

// Names lists the tensors, sorted.
func (w *Weights) Names() []string {
	out := make([]string, 0, len(w.tensors))
	for n := range w.tensors {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Shape returns a tensor's shape and whether it exists.
func (w *Weights) Shape(name string) ([]int64, bool) {
	t, ok := w.tensors[name]
	if !ok {
		return nil, false
	}
	return t.shape, true
}

// Load copies tensor name, which must have the given shape, into a new tensor of kind on the
// arena's device (converting from the file's dtype).
func (w *Weights) Load(a *raw.Arena, name string, kind raw.Kind, shape ...int64) (raw.Tensor, error) {
	t, ok := w.tensors[name]
	if !ok {
		return nil, fmt.Errorf("hf: %s has no tensor %s", w.dir, name)
	}
	if !sameShape(t.shape, shape) {
		return nil, fmt.Errorf("hf: tensor %s has shape %v in %s, but config.json implies %v", name, t.shape, filepath.Base(t.file.path), shape)
	}
	if t.kind < 0 {
		return nil, fmt.Errorf("hf: tensor %s is %s; only F32, BF16 and F16 weights are read", name, t.dtype)
	}
	if t.hi <= t.lo {
		return nil, fmt.Errorf("hf: tensor %s is empty", name)
	}
	x := a.FromBytes(unsafe.Pointer(&t.file.data[t.lo]), t.hi-t.lo, t.kind, t.shape...)
	// The copy is made: drop the file's pages from this process's resident set (they stay in
	// the page cache), so that loading never holds the file and the weights at once.
	page := os.Getpagesize()
	lo, hi := t.lo/page*page, min(len(t.file.data), (t.hi+page-1)/page*page)
	_ = syscall.Madvise(t.file.data[lo:hi], syscall.MADV_DONTNEED)
	if t.kind != kind || a.Device() >= 0 {
		// Convert or move, and free the file's copy at once: loading holds one copy of the
		// weights in the run's dtype, not the file's dtype as well.
		y := a.To(x, kind)
		if a.Release(x) {
			raw.FreeHandle(x)
		}
		x = y
	}
	if err := a.Err(); err != nil {
		return nil, fmt.Errorf("hf: loading %s: %w", name, err)
	}
	return x, nil
}

// Close unmaps the files.
func (w *Weights) Close() error {
	var err error
	for _, f := range w.files {
		if e := syscall.Munmap(f.data); e != nil && err == nil {
			err = e
		}
	}
	w.files = nil
	return err
}

func sameShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
