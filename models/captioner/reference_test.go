package captioner

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/unigrpo/unigrpo/internal/raw"
)

// python returns a Python interpreter with PyTorch. Without one the test fails: the oracle is
// part of the tests' set-up (scripts/oracles/install.sh, which make test runs).
func python(t *testing.T) string {
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if err := exec.Command(p, "-c", "import torch").Run(); err == nil {
			return p
		}
	}
	t.Fatal("no Python with PyTorch: run make test, or scripts/oracles/install.sh, which installs Debian's python3-torch")
	return ""
}

// TestMatchesPyTorch: testdata/reference.py, an independent PyTorch implementation of the same
// network, reads a checkpoint written by Save and gives the same per-token log-probs for
// sampled captions as LogProbs.
func TestMatchesPyTorch(t *testing.T) {
	py := python(t)
	cfg := tinyConfig()
	cfg.ProjectorHidden = 20
	m := newModel(t, cfg, 17)
	images, _ := scenes(t, cfg, 2, 3)
	const G, temp = 3, 0.8
	roll, err := m.Sample(images, G, SampleOptions{Temperature: temp, MaxLen: 8}, rowRNGs(2*G, 4))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "m.safetensors")
	if err := m.Save(ckpt, nil); err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(map[string]any{"images": images, "G": G, "tokens": roll.Tokens, "temperature": temp})
	req := filepath.Join(dir, "in.json")
	if err := os.WriteFile(req, in, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "testdata/reference.py", "logprobs", ckpt, req).Output()
	if err != nil {
		t.Fatalf("reference.py: %v\n%s", err, out)
	}
	var res struct{ Logprobs [][]float64 }
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	sc, err := m.LogProbs(images, G, roll.Tokens, temp, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Drop()
	N, T := len(roll.Tokens), sc.T
	got := values(t, raw.Handle(sc.LogProbs), N*T)
	if len(res.Logprobs) != N {
		t.Fatalf("PyTorch returned %d rows, want %d", len(res.Logprobs), N)
	}
	for r := range N {
		for i := range roll.Lengths[r] {
			if d := math.Abs(float64(got[r*T+i]) - res.Logprobs[r][i]); d > 1e-4 {
				t.Fatalf("row %d token %d: Go %g, PyTorch %g", r, i, got[r*T+i], res.Logprobs[r][i])
			}
			if d := math.Abs(float64(roll.LogProbs[r][i]) - res.Logprobs[r][i]); d > 1e-4 {
				t.Fatalf("row %d token %d: Go sampler %g, PyTorch %g", r, i, roll.LogProbs[r][i], res.Logprobs[r][i])
			}
		}
	}
}
