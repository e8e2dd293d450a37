package trainer

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestMetricsResumeDropsLaterSteps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	m, err := OpenMetrics(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	for s := 1; s <= 5; s++ {
		if err := m.Append(Record{"step": float64(s), "reward_mean": float64(s) / 10, "kl": math.NaN()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash left a half-written line.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"step":6,"rew`)
	f.Close()

	m, err = OpenMetrics(path, 3) // resumed from the checkpoint of step 3
	if err != nil {
		t.Fatal(err)
	}
	m.Append(Record{"step": 4, "reward_mean": 0.99})
	m.Close()
	recs, err := ReadRecords(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("got %d records, want steps 1-4", len(recs))
	}
	for i, r := range recs {
		if int(r["step"]) != i+1 {
			t.Fatalf("record %d has step %v", i, r["step"])
		}
	}
	if recs[3]["reward_mean"] != 0.99 || !math.IsNaN(recs[0]["kl"]) {
		t.Fatalf("values not kept: %v %v", recs[3], recs[0])
	}
}

func TestMetricsRejectsRecordWithoutStep(t *testing.T) {
	m, err := OpenMetrics(filepath.Join(t.TempDir(), "m.jsonl"), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Append(Record{"loss": 1}); err == nil {
		t.Fatal("record without step accepted")
	}
}
