package trainer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/unigrpo/unigrpo/internal/atomicfile"
)

// A run folder holds, per checkpoint, checkpoints/step-NNNNNN/ with
//
//	model.safetensors      policy weights and config (policy.Save; loadable from Python)
//	optimizer.safetensors  AdamW moments m and v over the flat trainable vector (and the float32
//	                       master values of a mixed-precision run)
//	state.json             step, seed and the run's config
//
// A run with LoRA adapters keeps, in place of model.safetensors, the adapters as a PEFT adapter
// folder (adapter_config.json naming the base model's folder, adapter_model.safetensors).
//
// A checkpoint folder is written under a temporary name and renamed into place, so a crash never
// leaves a partial checkpoint that looks complete.
const (
	checkpointDir = "checkpoints"
	modelFile     = "model.safetensors"
	optimFile     = "optimizer.safetensors"
	stateFile     = "state.json"
	// A LoRA policy saves a PEFT adapter folder in place of model.safetensors.
	adapterConfigFile  = "adapter_config.json"
	adapterWeightsFile = "adapter_model.safetensors"
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
	if exists(filepath.Join(path, adapterConfigFile)) {
		return filepath.Join(path, adapterWeightsFile), nil // a LoRA checkpoint or adapter folder
	}
	if idx := filepath.Join(path, "model.safetensors.index.json"); exists(idx) {
		return idx, nil // a sharded Hugging Face model folder
	}
	cks, err := Checkpoints(path)
	if err != nil || len(cks) == 0 {
		return "", fmt.Errorf("%s holds no checkpoint: pass a run folder with %s/step-*, a checkpoint folder or a .safetensors file", path, checkpointDir)
	}
	return checkpointModel(cks[len(cks)-1]), nil
}

// checkpointModel is the model file of a checkpoint folder: its model.safetensors, or the
// adapters of a LoRA run (whose policy saves a PEFT adapter folder instead of its weights).
func checkpointModel(ckpt string) string {
	if exists(filepath.Join(ckpt, adapterConfigFile)) {
		return filepath.Join(ckpt, adapterWeightsFile)
	}
	return filepath.Join(ckpt, modelFile)
}

// SaveCheckpoint writes a checkpoint folder for st.Step from one process holding the whole
// optimizer state, atomically, and keeps the newest keep checkpoints (all when keep <= 0).
// saveModel writes the policy weights to the path it is given. (A job of several ranks saves with
// checkpoint, each rank its range of the state.)
func SaveCheckpoint(runDir string, st State, opt *AdamW, saveModel func(path string) error, keep int) (string, error) {
	tmp, err := beginCheckpoint(runDir, st.Step)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := writeModelAndHeader(tmp, st.Step, len(opt.M), opt.Master != nil, opt.Step, saveModel); err != nil {
		return "", err
	}
	if err := writeOptimRange(filepath.Join(tmp, optimFile), 0, opt); err != nil {
		return "", fmt.Errorf("checkpoint step %d: %w", st.Step, err)
	}
	st.OptimStep = opt.Step
	return finishCheckpoint(runDir, tmp, st, keep)
}

// tempCheckpoint is where the checkpoint of step is written before it is renamed into place.
// Its name does not start with "step-", so Checkpoints never lists it.
func tempCheckpoint(runDir string, step int) string {
	return filepath.Join(runDir, checkpointDir, "."+CheckpointName(step)+".tmp")
}

// beginCheckpoint makes an empty temporary folder for the checkpoint of step (removing one a
// crash left behind).
func beginCheckpoint(runDir string, step int) (string, error) {
	tmp := tempCheckpoint(runDir, step)
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	return tmp, nil
}

// writeModelAndHeader writes the model into the temporary folder tmp and creates its optimizer
// file for n values at full size, for the ranks to fill.
func writeModelAndHeader(tmp string, step, n int, master bool, optimStep int, saveModel func(path string) error) error {
	if err := saveModel(filepath.Join(tmp, modelFile)); err != nil {
		return fmt.Errorf("checkpoint step %d: %w", step, err)
	}
	if err := createOptimFile(filepath.Join(tmp, optimFile), n, master, optimStep); err != nil {
		return fmt.Errorf("checkpoint step %d: %w", step, err)
	}
	return nil
}

// finishCheckpoint writes state.json into the complete temporary folder tmp, renames it into
// place (replacing an older checkpoint of the same step) and prunes to the newest keep.
func finishCheckpoint(runDir, tmp string, st State, keep int) (string, error) {
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return "", err
	}
	if err := atomicfile.Write(filepath.Join(tmp, stateFile), js); err != nil {
		return "", err
	}
	root := filepath.Join(runDir, checkpointDir)
	final := filepath.Join(root, CheckpointName(st.Step))
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
		// Only the checkpoints up to this one are the run's: one of a later step came from
		// elsewhere and is never pruned (nor is the one just written, the newest of the run's).
		cks, _ := Checkpoints(runDir)
		for i, ck := range cks {
			if ck == final {
				cks = cks[:i+1]
				break
			}
		}
		for len(cks) > keep {
			os.RemoveAll(cks[0]) // a checkpoint left by a failed removal is only disk space
			cks = cks[1:]
		}
	}
	return final, nil
}

// ReadState reads a checkpoint folder's state.json.
func ReadState(dir string) (State, error) {
	var st State
	js, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return st, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	if err := json.Unmarshal(js, &st); err != nil {
		return st, fmt.Errorf("checkpoint %s: %s is damaged: %w", dir, stateFile, err)
	}
	return st, nil
}

// LoadState reads a checkpoint folder's state and its whole optimizer state for n trainable
// values (n < 0: any number, checked by the caller).
func LoadState(dir string, n int) (State, *AdamW, error) {
	st, err := ReadState(dir)
	if err != nil {
		return st, nil, err
	}
	path := filepath.Join(dir, optimFile)
	total, err := optimFileLen(path)
	if err != nil {
		return st, nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	if n >= 0 && total != n {
		return st, nil, fmt.Errorf("checkpoint %s: optimizer state holds %d values, the model trains %d (different trainable groups or model size?)", dir, total, n)
	}
	opt, err := readOptimRange(path, 0, total)
	if err != nil {
		return st, nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	opt.Step = st.OptimStep
	return st, opt, nil
}

// exists reports whether path names a file or folder.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
