package captioner

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/nlpodyssey/safetensors"
	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/internal/atomicfile"
	"github.com/unigrpo/unigrpo/internal/raw"
)

// Checkpoint metadata keys written by Save (the safetensors "__metadata__" map). Python reads
// the config with json.loads(safe_open(path, "pt").metadata()["policy.config"]).
const (
	metaFormat       = "format"        // "pt", the value Hugging Face tools expect
	metaPolicy       = "policy.format" // checkpointFormat
	metaConfig       = "policy.config" // the Config as JSON
	checkpointFormat = "unigrpo-policy/1"
)

// Save writes the model's weights (float32, named as in Params) and its Config to path as a
// safetensors file, with meta added to the file's metadata (keys "format" and "policy.*" are
// reserved). The file is written to a temporary file in the same folder, synced and renamed, so
// path holds either the old or the new checkpoint, never a partial one.
func (m *Model) Save(path string, meta map[string]string) error {
	info := map[string]string{}
	for k, v := range meta {
		if k == metaFormat || strings.HasPrefix(k, "policy.") {
			return fmt.Errorf("policy: save %s: metadata key %q is reserved", path, k)
		}
		info[k] = v
	}
	cfgJSON, err := json.Marshal(m.cfg)
	if err != nil {
		return fmt.Errorf("policy: save %s: %w", path, err)
	}
	info[metaFormat] = "pt"
	info[metaPolicy] = checkpointFormat
	info[metaConfig] = string(cfgJSON)

	views := make(map[string]tensorView, len(m.params))
	a := m.a
	for _, p := range m.params {
		vals := make([]float32, numel(p.Shape))
		a.CopyToFloat32(p.h, vals)
		data := make([]byte, 4*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
		}
		shape := make([]uint64, len(p.Shape))
		for i, s := range p.Shape {
			shape[i] = uint64(s)
		}
		views[p.Name] = tensorView{shape: shape, data: data}
	}
	if err := a.Free(); err != nil {
		return fmt.Errorf("policy: save %s: read weights: %w", path, err)
	}
	if err := atomicfile.WriteFunc(path, func(w io.Writer) error {
		return safetensors.SerializeToWriter(views, info, w)
	}); err != nil {
		return fmt.Errorf("policy: save: %w", err)
	}
	return nil
}

// Load reads a checkpoint written by Save and returns a model of the checkpoint's Config on dev
// (every group trainable) and the caller's metadata saved with it.
func Load(path string, dev gotch.Device) (*Model, map[string]string, error) {
	st, cfg, meta, err := readCheckpoint(path)
	if err != nil {
		return nil, nil, err
	}
	m, err := build(cfg, dev, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: load %s: %w", path, err)
	}
	if err := m.setWeights(path, st); err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, meta, nil
}

// LoadTrainable is Load with the groups that train set: the vision encoder when vision and train
// are both set, the projector and the language model when train is set (train false freezes
// everything, as for a KL reference).
func LoadTrainable(path string, dev gotch.Device, vision, train bool) (*Model, error) {
	m, _, err := Load(path, dev)
	if err != nil {
		return nil, err
	}
	if err := m.SetTrainable(train && vision, train, train); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// LoadWeights replaces m's weights by those of the checkpoint at path, which must have been
// written by a model of the same Config, and returns the caller's metadata saved with it. On
// error m is unchanged.
func (m *Model) LoadWeights(path string) (map[string]string, error) {
	st, cfg, meta, err := readCheckpoint(path)
	if err != nil {
		return nil, err
	}
	if d := cfg.diff(m.cfg); len(d) > 0 {
		msg := fmt.Sprintf("policy: load %s: checkpoint config differs from the model's (checkpoint vs model: %s)",
			path, strings.Join(d, ", "))
		if err := m.checkTensors(st); err != nil {
			msg += ": " + err.Error()
		}
		return nil, errors.New(msg)
	}
	if err := m.setWeights(path, st); err != nil {
		return nil, err
	}
	return meta, nil
}

// ReadConfig returns the Config and caller metadata of the checkpoint at path without loading
// its weights.
func ReadConfig(path string) (Config, map[string]string, error) {
	_, cfg, meta, err := readCheckpoint(path)
	return cfg, meta, err
}

// readCheckpoint reads and checks the file at path.
func readCheckpoint(path string) (safetensors.SafeTensors, Config, map[string]string, error) {
	var cfg Config
	data, err := os.ReadFile(path)
	if err != nil {
		return safetensors.SafeTensors{}, cfg, nil, fmt.Errorf("policy: load checkpoint: %w", err)
	}
	if err := checkSize(data); err != nil {
		return safetensors.SafeTensors{}, cfg, nil, fmt.Errorf("policy: load %s: %w", path, err)
	}
	st, err := safetensors.Deserialize(data)
	if err != nil {
		return st, cfg, nil, fmt.Errorf("policy: load %s: not a valid safetensors file: %w", path, err)
	}
	_, header, err := safetensors.ReadMetadata(data)
	if err != nil {
		return st, cfg, nil, fmt.Errorf("policy: load %s: not a valid safetensors file: %w", path, err)
	}
	info := header.Metadata()
	raw, ok := info[metaConfig]
	if !ok {
		return st, cfg, nil, fmt.Errorf("policy: load %s: no %q in the file's metadata: not a checkpoint written by policy.Save", path, metaConfig)
	}
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return st, cfg, nil, fmt.Errorf("policy: load %s: bad %q metadata: %w", path, metaConfig, err)
	}
	if err := cfg.Validate(); err != nil {
		return st, cfg, nil, fmt.Errorf("policy: load %s: %w", path, err)
	}
	meta := map[string]string{}
	for k, v := range info {
		if k != metaFormat && !strings.HasPrefix(k, "policy.") {
			meta[k] = v
		}
	}
	return st, cfg, meta, nil
}

// checkSize reports a file too short for its own safetensors header (a truncated file) or one
// that is not safetensors at all, in words a user can act on.
func checkSize(data []byte) error {
	if len(data) < 8 {
		return fmt.Errorf("not a safetensors file: %d bytes, shorter than the 8-byte header size", len(data))
	}
	n := binary.LittleEndian.Uint64(data[:8])
	if len(data) == 8 || data[8] != '{' || n < 2 {
		return errors.New("not a safetensors file (no JSON header after the 8-byte header size)")
	}
	if n > uint64(len(data)-8) {
		if n > 100_000_000 {
			return errors.New("not a safetensors file (header size out of range)")
		}
		return fmt.Errorf("truncated: the header alone needs %d bytes, the file has %d", 8+n, len(data))
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &header); err != nil {
		return fmt.Errorf("not a safetensors file (bad JSON header: %v)", err)
	}
	var end uint64
	for name, v := range header {
		if name == "__metadata__" {
			continue
		}
		var ti struct {
			DataOffsets [2]uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(v, &ti); err != nil {
			return fmt.Errorf("not a safetensors file (bad entry %q: %v)", name, err)
		}
		end = max(end, ti.DataOffsets[1])
	}
	if have := uint64(len(data)) - 8 - n; end > have {
		return fmt.Errorf("truncated: its tensors need %d bytes of data, the file has %d (file size %d, expected %d)",
			end, have, len(data), 8+n+end)
	}
	return nil
}

// checkTensors reports the first difference between the checkpoint's tensors and m's
// parameters: a missing or extra tensor, a dtype other than F32, or a shape mismatch.
func (m *Model) checkTensors(st safetensors.SafeTensors) error {
	want := map[string]bool{}
	for _, p := range m.params {
		want[p.Name] = true
		tv, ok := st.Tensor(p.Name)
		if !ok {
			return fmt.Errorf("checkpoint has no tensor %s", p.Name)
		}
		if tv.DType() != safetensors.F32 {
			return fmt.Errorf("checkpoint tensor %s is %s, the model needs F32", p.Name, tv.DType())
		}
		shape := make([]int64, len(tv.Shape()))
		for i, s := range tv.Shape() {
			shape[i] = int64(s)
		}
		if !slices.Equal(shape, p.Shape) {
			return fmt.Errorf("checkpoint tensor %s has shape %v, model expects %v", p.Name, shape, p.Shape)
		}
	}
	names := st.Names()
	slices.Sort(names)
	for _, n := range names {
		if !want[n] {
			return fmt.Errorf("checkpoint has tensor %s, which the model does not have", n)
		}
	}
	return nil
}

// setWeights checks every tensor of st against m, then copies them into m's parameters.
func (m *Model) setWeights(path string, st safetensors.SafeTensors) error {
	if err := m.checkTensors(st); err != nil {
		return fmt.Errorf("policy: load %s: %w", path, err)
	}
	m.vision.reset()
	a := m.a
	prev := raw.SetGradEnabled(false)
	defer raw.SetGradEnabled(prev)
	for _, p := range m.params {
		tv, _ := st.Tensor(p.Name)
		b := tv.Data()
		vals := make([]float32, len(b)/4)
		for i := range vals {
			vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		a.Copy(p.h, a.FromFloat32(vals, p.Shape...))
		if err := a.Free(); err != nil {
			return fmt.Errorf("policy: load %s: copy %s: %w", path, p.Name, err)
		}
	}
	return nil
}

// tensorView is a float32 tensor's bytes for safetensors.
type tensorView struct {
	shape []uint64
	data  []byte
}

func (v tensorView) DType() safetensors.DType { return safetensors.F32 }
func (v tensorView) Shape() []uint64          { return v.shape }
func (v tensorView) Data() []byte             { return v.data }
func (v tensorView) DataLen() uint64          { return uint64(len(v.data)) }

// numel returns the number of elements of shape.
func numel(shape []int64) int {
	n := 1
	for _, s := range shape {
		n *= int(s)
	}
	return n
}
