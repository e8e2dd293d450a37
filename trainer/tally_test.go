package trainer

import (
	"fmt"
	"path/filepath"
	"testing"
)

// Extremes added once per sample fold into the extreme of all samples, and a sum given twice
// or a name used as both extremes is refused. Oracle: the exact max/min of the values added.
func TestTallyFoldsExtremesAndRefusesRepeatedSums(t *testing.T) {
	d := solo(t)
	var ta tally
	for _, v := range []float64{3, 9, -2, 5} {
		ta.max("hi", v)
		ta.min("lo", v)
	}
	ta.sum("n", 4)
	m, err := ta.reduce(d)
	if err != nil {
		t.Fatal(err)
	}
	if m["hi"] != 9 || m["lo"] != -2 || m["n"] != 4 {
		t.Fatalf("hi %v lo %v n %v; want 9, -2, 4", m["hi"], m["lo"], m["n"])
	}

	var twice tally
	twice.sum("n", 1)
	twice.sum("n", 2)
	if _, err := twice.reduce(d); err == nil {
		t.Fatal("a sum given twice was accepted")
	}
	var both tally
	both.max("x", 1)
	both.min("x", 1)
	if _, err := both.reduce(d); err == nil {
		t.Fatal("a name used as both maximum and minimum was accepted")
	}
}

// On a real two-rank GRPO run every step's extremes bound its mean, and the lengths vary
// within a step somewhere. Oracle: min <= mean <= max, exact for any set of numbers.
func TestGRPOExtremesBoundMeans(t *testing.T) {
	init := baseline(t)
	c := smallGRPO(init, filepath.Join(t.TempDir(), "run"))
	c.Steps, c.EvalEvery, c.CkptEvery, c.CheckEvery = 3, 0, 0, 0
	runRanks(t, 2, func(d *Dist) error { return trainWorld(c, false, d) })
	recs, err := ReadRecords(filepath.Join(c.Out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	spread := false
	for _, r := range recs {
		for _, k := range []string{"reward", "length"} {
			lo, mean, hi := r[k+"_min"], r[k+"_mean"], r[k+"_max"]
			if !(lo <= mean && mean <= hi) {
				t.Errorf("step %v: %s_min %v, mean %v, max %v", r["step"], k, lo, mean, hi)
			}
			spread = spread || lo < hi
		}
	}
	if !spread {
		t.Error(fmt.Sprint("no step has min < max: the extremes look like one sample's value: ", recs))
	}
}
