package lm

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/procfs"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
)

// memChild names the checkpointing mode a child process of TestCheckpointingLowersPeakMemory
// measures ("on" or "off"); unset in the parent.
const memChild = "UNIGRPO_CKPT_MEM_CHILD"

// Activation checkpointing lowers the peak resident memory of a scoring forward and backward: a
// 24-layer model of the tiny Qwen2's widths, 8 rows of 256 positions (attention weights of 8 MiB
// a layer), measured in two fresh processes (peak RSS, VmHWM, over the RSS before the forward).
// Without checkpointing every layer's activations are alive at the backward; with it, one
// layer's and each layer's input, so the growth must be under half (measured: +615 MiB without,
// +248 MiB with; glibc's dynamic mmap threshold keeps some freed temporaries of these sub-32 MiB
// tensors resident, about 6 MiB a layer: with MALLOC_MMAP_THRESHOLD_=131072, +455 and +94 MiB).
// Oracle: the process's own accounting, the plain path's peak as the reference.
func TestCheckpointingLowersPeakMemory(t *testing.T) {
	if mode := os.Getenv(memChild); mode != "" {
		checkpointPeakChild(t, mode == "on")
		return
	}
	if testing.Short() {
		t.Skip("two child processes")
	}
	growth := map[bool]int64{}
	for _, on := range []bool{false, true} {
		mode := map[bool]string{false: "off", true: "on"}[on]
		cmd := exec.Command(os.Args[0], "-test.run=^TestCheckpointingLowersPeakMemory$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), memChild+"="+mode)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child with checkpointing %s: %v\n%s", mode, err, out)
		}
		var before, peak int64
		i := strings.Index(string(out), "ckpt-mem:")
		if i < 0 {
			t.Fatalf("child with checkpointing %s printed no measurement:\n%s", mode, out)
		}
		if _, err := fmt.Sscanf(string(out[i:]), "ckpt-mem: before=%d peak=%d", &before, &peak); err != nil {
			t.Fatalf("child with checkpointing %s: %v\n%s", mode, err, out)
		}
		growth[on] = peak - before
		t.Logf("checkpointing %s: RSS %.1f MiB before the forward, peak %.1f MiB (+%.1f MiB)", mode, mib(before), mib(peak), mib(peak-before))
	}
	if growth[true]*2 > growth[false] {
		t.Errorf("peak growth %.1f MiB with checkpointing, %.1f MiB without: want under half", mib(growth[true]), mib(growth[false]))
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// checkpointPeakChild scores 8 captions of 253 tokens with the deep model, back-propagates a sum
// of the log-probs (completing it with Finish) and prints the RSS before and the peak RSS.
func checkpointPeakChild(t *testing.T, on bool) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p, err := NewTextPolicy(deepQwen2(t, 24), gotch.CPU, raw.Float32, []int{310, 341, 333}, []int{362},
		func([]int) string { return "" }, 8, true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetCheckpointing(on)
	tokens := make([][]int, 8)
	for r := range tokens {
		tokens[r] = make([]int, 253)
		for i := range tokens[r] {
			tokens[r][i] = (r*31 + i*7) % 360
		}
	}
	runtime.GC()
	before, err := procfs.SelfRSS()
	if err != nil {
		t.Fatal(err)
	}
	sc, err := p.LogProbs(make([]images.Planar, 4), 2, tokens, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	a := raw.New(-1)
	a.Backward(a.Sum(raw.Handle(sc.LogProbs)))
	if err := a.Free(); err != nil {
		t.Fatal(err)
	}
	if (sc.Finish != nil) != on {
		t.Fatalf("checkpointing %v, Finish set %v", on, sc.Finish != nil)
	}
	if sc.Finish != nil {
		if err := sc.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	sc.Drop()
	peak, err := procfs.SelfPeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ckpt-mem: before=%d peak=%d\n", before, peak)
}

// deepQwen2 writes a model folder of the tiny Qwen2 fixture's widths with layers layers (layer
// l is the fixture's layer l%2) and room for 512 positions, and returns it.
func deepQwen2(t *testing.T, layers int) string {
	t.Helper()
	src := hftest.Dir("qwen2")
	ws, err := hf.OpenWeights(src)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	a := raw.New(-1)
	defer a.Free()
	tensors := map[string]raw.Tensor{}
	for _, name := range ws.Names() {
		shape, _ := ws.Shape(name)
		x, err := ws.Load(a, name, raw.Float32, shape...)
		if err != nil {
			t.Fatal(err)
		}
		rest, ok := strings.CutPrefix(name, "model.layers.")
		if !ok {
			tensors[name] = x
			continue
		}
		var l int
		if _, err := fmt.Sscanf(rest, "%d.", &l); err != nil {
			t.Fatal(err)
		}
		for d := l; d < layers; d += 2 {
			tensors[fmt.Sprintf("model.layers.%d.%s", d, strings.SplitN(rest, ".", 2)[1])] = x
		}
	}
	dir := t.TempDir()
	if err := hf.SaveFolder(filepath.Join(dir, "model.safetensors"), gotch.CPU, tensors, src, nil, nil); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	js, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err == nil {
		err = json.Unmarshal(js, &cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg["num_hidden_layers"], cfg["max_position_embeddings"] = layers, 512
	delete(cfg, "layer_types")
	if js, err = json.Marshal(cfg); err == nil {
		err = os.WriteFile(filepath.Join(dir, "config.json"), js, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
