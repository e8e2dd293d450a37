package trainer

import (
	"path/filepath"
	"testing"
)

// A run of fewer steps with a longer run's DecaySteps repeats that run's first steps exactly: the
// same learning rates, losses and gradient norms (how the shipped baselines are checked against
// their metrics, cmd/trainer's TestShippedBaselinesReplay). Oracle: the longer run itself; the
// short run without DecaySteps decays faster and must differ.
func TestSFTDecayStepsReplaysALongerRun(t *testing.T) {
	tmp := t.TempDir()
	run := func(name string, steps, decay int) []Record {
		c := DefaultSFTConfig()
		c.Out, c.Steps, c.DecaySteps, c.Batch, c.Warmup, c.EvalScenes, c.LogEvery = filepath.Join(tmp, name), steps, decay, 4, 1, 0, 1
		if err := sftWorld(c, tinyModel(), solo(t)); err != nil {
			t.Fatal(err)
		}
		r, err := ReadRecords(filepath.Join(c.Out, "metrics.jsonl"))
		if err != nil || len(r) != steps {
			t.Fatalf("%s: %d records (%v), want %d", name, len(r), err, steps)
		}
		return r
	}
	long, short, plain := run("long", 8, 0), run("short", 3, 8), run("plain", 3, 0)
	for i := range short {
		for _, k := range []string{"lr", "loss", "grad_norm"} {
			if short[i][k] != long[i][k] {
				t.Errorf("step %d %s: %v with --decay-steps 8, %v in the 8-step run", i+1, k, short[i][k], long[i][k])
			}
		}
	}
	if plain[2]["lr"] == long[2]["lr"] {
		t.Errorf("step 3 lr %v in a 3-step and an 8-step run: the schedule does not depend on its span", plain[2]["lr"])
	}
	c := DefaultSFTConfig()
	c.Out, c.Steps, c.DecaySteps = tmp, 8, 4
	if err := c.Validate(1); err == nil {
		t.Error("DecaySteps below Steps accepted")
	}
}
