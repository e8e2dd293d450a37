package trainer

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/world"
	worldtask "github.com/unigrpo/unigrpo/world/task"
)

// finishCounter is a policy that counts the Scores.Finish calls the update makes.
type finishCounter struct {
	Policy
	n *int
}

func (p finishCounter) SetCheckpointing(on bool) { p.Policy.(Checkpointer).SetCheckpointing(on) }

func (p finishCounter) LogProbs(imgs []images.Planar, G int, tokens [][]int, temperature float64, withEntropy bool) (*policy.Scores, error) {
	sc, err := p.Policy.LogProbs(imgs, G, tokens, temperature, withEntropy)
	if err == nil && sc.Finish != nil {
		finish := sc.Finish
		sc.Finish = func() error { *p.n++; return finish() }
	}
	return sc, err
}

// GRPO on the tiny Qwen2 policy with --activation-checkpointing trains the same weights as
// without it (two steps of two updates each, KL on): every weight of the final checkpoint within
// 1e-6, and the same loss and gradient norm; the update completed each backward (Finish) with it
// and had none to complete without it. Oracle: the run without checkpointing.
func TestGRPOActivationCheckpointing(t *testing.T) {
	dir, loadPolicy := qwen2TextPolicy(t, raw.Float32)
	tmp := t.TempDir()
	runs := map[bool][]Record{}
	for _, on := range []bool{false, true} {
		finishes := 0
		load := func(path string, dev gotch.Device, o LoadOptions) (Policy, error) {
			p, err := loadPolicy(path, dev, o)
			if err != nil {
				return nil, err
			}
			return finishCounter{p, &finishes}, nil
		}
		c := smallGRPO(filepath.Join(dir, "model.safetensors"), filepath.Join(tmp, map[bool]string{false: "plain", true: "ckpt"}[on]))
		c.Steps, c.Mu, c.EvalScenes, c.CkptEvery, c.LR = 2, 2, 0, 2, 1e-3
		c.ActivationCheckpointing = on
		runRanksWith(t, 1, false, func(d *Dist) error {
			rw, err := worldtask.NewReward(world.DefaultConfig(), "all")
			if err != nil {
				return err
			}
			task := Task{Source: worldtask.Source{World: world.DefaultConfig()}, Reward: rw, Load: load, About: "world scenes"}
			return Train(c.GRPOConfig, task, false, d, nil)
		})
		recs, err := ReadRecords(filepath.Join(c.Out, "metrics.jsonl"))
		if err != nil || len(recs) != 2 {
			t.Fatalf("checkpointing %v: %d records (%v)", on, len(recs), err)
		}
		runs[on] = recs
		if want := map[bool]int{false: 0, true: 4}[on]; finishes != want {
			t.Errorf("checkpointing %v: %d recompute passes, want %d (one per update)", on, finishes, want)
		}
	}
	for i := range runs[false] {
		for _, k := range []string{"loss", "grad_norm", "kl"} {
			if x, y := runs[false][i][k], runs[true][i][k]; math.Abs(x-y) > 1e-6*math.Max(1, math.Abs(x)) {
				t.Errorf("step %d %s: %v without checkpointing, %v with", i+1, k, x, y)
			}
		}
	}
	if runs[false][1]["grad_norm"] == 0 || runs[false][1]["kl"] == 0 {
		t.Fatalf("the policy did not move: %v", runs[false][1])
	}
	plain, ckpt := finalWeights(t, filepath.Join(tmp, "plain")), finalWeights(t, filepath.Join(tmp, "ckpt"))
	worst := 0.0
	for name, x := range plain {
		y, ok := ckpt[name]
		if !ok || len(y) != len(x) {
			t.Fatalf("%s: missing or of another size with checkpointing", name)
		}
		for i := range x {
			worst = math.Max(worst, math.Abs(float64(x[i]-y[i])))
		}
	}
	t.Logf("largest weight difference after 2 steps: %g", worst)
	if worst > 1e-6 {
		t.Errorf("weights differ by up to %g with checkpointing", worst)
	}
}

// finalWeights reads every float32 tensor of a run's newest checkpoint (a Hugging Face folder).
func finalWeights(t *testing.T, run string) map[string][]float32 {
	t.Helper()
	cks, err := Checkpoints(run)
	if err != nil || len(cks) == 0 {
		t.Fatalf("%s: no checkpoint (%v)", run, err)
	}
	ws, err := hf.OpenWeights(cks[len(cks)-1])
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	out := map[string][]float32{}
	for _, name := range ws.Names() {
		dtype, _, data, ok := ws.Raw(name)
		if !ok || dtype != "F32" {
			t.Fatalf("%s: %s is %s, want F32", run, name, dtype)
		}
		v := make([]float32, len(data)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		out[name] = v
	}
	return out
}
