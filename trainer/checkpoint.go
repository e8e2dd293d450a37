package trainer

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"github.com/unigrpo/unigrpo/internal/atomicfile"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/nlpodyssey/safetensors"
)

// A run folder holds, per checkpoint, checkpoints/step-NNNNNN/ with
//
//	model.safetensors      policy weights and config (policy.Save; loadable from Python)
//	optimizer.safetensors  AdamW moments m and v over the flat trainable vector (and the float32
//	                       master values of a mixed-precision run)
//	state.json             step, seed and the run's config
//
// A checkpoint folder is written under a temporary name and renamed into place, so a crash never
// leaves a partial checkpoint that looks complete.
const (
	checkpointDir = "checkpoints"
	modelFile     = "model.safetensors"
	optimFile     = "optimizer.safetensors"
	stateFile     = "state.json"
)

// State is what a checkpoint records besides weights and optimizer moments. The random state of a
// run is its seed and step: every stream is keyed by them (see RNG).
type State struct {
	Step      int             `json:"step"`
	Seed      uint64          `json:"seed"`
	Kind      string          `json:"kind"` // "sft" or "grpo"
	OptimStep int             `json:"optim_step"`
	Config    json.RawMessage `json:"config"`
}

// CheckpointName is the folder name of the checkpoint of a step.
func CheckpointName(step int) string { return fmt.Sprintf("step-%06d", step) }

// Checkpoints lists the complete checkpoints of a run folder, oldest first.
func Checkpoints(runDir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(runDir, checkpointDir))
	if err != nil {
		return nil, err
	}
	type ck struct {
		step int
		path string
	}
	var cks []ck
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, "step-") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(name, "step-"))
		if err != nil {
			continue
		}
		dir := filepath.Join(runDir, checkpointDir, name)
		if _, err := os.Stat(filepath.Join(dir, stateFile)); err != nil {
			continue // incomplete
		}
		cks = append(cks, ck{n, dir})
	}
	sort.Slice(cks, func(i, j int) bool { return cks[i].step < cks[j].step })
	out := make([]string, len(cks))
	for i, c := range cks {
		out[i] = c.path
	}
	return out, nil
}

// ResolveModel turns what a user passes to --init or --ckpt into a model file: a model file as
// is, a checkpoint folder's model (a sharded Hugging Face folder: its index), or a run folder's
// newest checkpoint.
func ResolveModel(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if !st.IsDir() {
		return path, nil
	}
	if _, err := os.Stat(filepath.Join(path, modelFile)); err == nil {
		return filepath.Join(path, modelFile), nil
	}
	if idx := filepath.Join(path, "model.safetensors.index.json"); exists(idx) {
		return idx, nil // a sharded Hugging Face model folder
	}
	cks, err := Checkpoints(path)
	if err != nil || len(cks) == 0 {
		return "", fmt.Errorf("%s holds no checkpoint: pass a run folder with %s/step-*, a checkpoint folder or a .safetensors file", path, checkpointDir)
	}
	return filepath.Join(cks[len(cks)-1], modelFile), nil
}

// SaveCheckpoint writes a checkpoint folder for st.Step atomically and keeps the newest keep
// checkpoints (all when keep <= 0). saveModel writes the policy weights to the path it is given.
func SaveCheckpoint(runDir string, st State, opt *AdamW, saveModel func(path string) error, keep int) (string, error) {
	root := filepath.Join(runDir, checkpointDir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	final := filepath.Join(root, CheckpointName(st.Step))
	tmp, err := os.MkdirTemp(root, "."+CheckpointName(st.Step)+".tmp")
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := saveModel(filepath.Join(tmp, modelFile)); err != nil {
		return "", fmt.Errorf("checkpoint step %d: %w", st.Step, err)
	}
	if err := saveOptimizer(filepath.Join(tmp, optimFile), opt); err != nil {
		return "", fmt.Errorf("checkpoint step %d: %w", st.Step, err)
	}
	st.OptimStep = opt.Step
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return "", err
	}
	if err := atomicfile.Write(filepath.Join(tmp, stateFile), js); err != nil {
		return "", err
	}
	if err := os.RemoveAll(final); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if d, err := os.Open(root); err == nil {
		d.Sync()
		d.Close()
	}
	if keep > 0 {
		cks, _ := Checkpoints(runDir)
		for len(cks) > keep {
			os.RemoveAll(cks[0])
			cks = cks[1:]
		}
	}
	return final, nil
}

// LoadState reads a checkpoint folder's state and optimizer moments for n trainable values
// (n < 0: any number, checked by the caller).
func LoadState(dir string, n int) (State, *AdamW, error) {
	var st State
	js, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return st, nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	if err := json.Unmarshal(js, &st); err != nil {
		return st, nil, fmt.Errorf("checkpoint %s: %s is damaged: %w", dir, stateFile, err)
	}
	opt, err := loadOptimizer(filepath.Join(dir, optimFile))
	if err != nil {
		return st, nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	if len(opt.V) != len(opt.M) || (opt.Master != nil && len(opt.Master) != len(opt.M)) {
		return st, nil, fmt.Errorf("checkpoint %s: optimizer state of %d/%d/%d values is inconsistent", dir, len(opt.M), len(opt.V), len(opt.Master))
	}
	if n >= 0 && len(opt.M) != n {
		return st, nil, fmt.Errorf("checkpoint %s: optimizer state holds %d values, the model trains %d (different trainable groups or model size?)", dir, len(opt.M), n)
	}
	opt.Step = st.OptimStep
	return st, opt, nil
}

func saveOptimizer(path string, o *AdamW) error {
	views := map[string]safetensors.TensorView{}
	tensors := map[string][]float32{"m": o.M, "v": o.V}
	if o.Master != nil {
		tensors["master"] = o.Master
	}
	for name, x := range tensors {
		data := make([]byte, 4*len(x))
		for i, f := range x {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(f))
		}
		tv, err := safetensors.NewTensorView(safetensors.F32, []uint64{uint64(len(x))}, data)
		if err != nil {
			return fmt.Errorf("optimizer state: %w", err)
		}
		views[name] = tv
	}
	meta := map[string]string{"step": strconv.Itoa(o.Step)}
	buf, err := safetensors.Serialize(views, meta)
	if err != nil {
		return fmt.Errorf("optimizer state: %w", err)
	}
	return atomicfile.Write(path, buf)
}

func loadOptimizer(path string) (*AdamW, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	st, err := safetensors.Deserialize(buf)
	if err != nil {
		return nil, fmt.Errorf("%s is not a readable safetensors file (truncated?): %w", filepath.Base(path), err)
	}
	get := func(name string) ([]float32, error) {
		tv, ok := st.Tensor(name)
		if !ok || tv.DType() != safetensors.F32 {
			return nil, fmt.Errorf("%s lacks the float32 tensor %q", filepath.Base(path), name)
		}
		d := tv.Data()
		out := make([]float32, len(d)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
		return out, nil
	}
	o := &AdamW{}
	if o.M, err = get("m"); err != nil {
		return nil, err
	}
	if o.V, err = get("v"); err != nil {
		return nil, err
	}
	if _, ok := st.Tensor("master"); ok {
		if o.Master, err = get("master"); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// exists reports whether path names a file or folder.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
