package eval

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/models/embed"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/models/world"
)

func TestScoreOracleAndEmpty(t *testing.T) {
	wc := world.DefaultConfig()
	dec, _ := world.NewDecoder(wc)
	es, err := embed.All(wc)
	if err != nil {
		t.Fatal(err)
	}
	scenes, images := HeldOut(wc, 5, 30)
	oracle := make([][]int, len(scenes))
	first := make([][]int, len(scenes))
	for i, s := range scenes {
		oracle[i] = world.Oracle(s)
		first[i] = world.Oracle(world.Scene{Objects: s.Objects[:1], Background: s.Background})
	}
	o, err := Score("oracle", dec, es, scenes, images, oracle, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := Score("first", dec, es, scenes, images, first, 5, 0)
	e, _ := Score("empty", dec, es, scenes, images, make([][]int, len(scenes)), 5, 0)
	if !(o.Overall > f.Overall && f.Overall > e.Overall) {
		t.Fatalf("overall: oracle %.3f, first object %.3f, empty %.3f; want that order", o.Overall, f.Overall, e.Overall)
	}
	// Overall is the mean of the per-embedder means.
	sum := 0.0
	for _, v := range o.Embedders {
		sum += v
	}
	if d := sum/float64(len(es)) - o.Overall; d > 1e-12 || d < -1e-12 {
		t.Fatalf("overall %.6f is not the mean of %v", o.Overall, o.Embedders)
	}
	if o.ObjectRecall != 1 || o.ObjectPrecision != 1 || e.ObjectRecall != 0 {
		t.Fatalf("understanding: oracle recall %.2f precision %.2f, empty recall %.2f", o.ObjectRecall, o.ObjectPrecision, e.ObjectRecall)
	}
	if len(o.Reconstructions) != 2 || len(o.Scenes) != 30 {
		t.Fatalf("kept %d reconstructions and %d scene rows", len(o.Reconstructions), len(o.Scenes))
	}
	for _, st := range o.Stats {
		if st.Min > st.Mean || st.Mean > st.Max {
			t.Fatalf("stat out of order: %+v", st)
		}
	}
	if _, err := Score("x", dec, es, scenes, images, oracle[:3], 5, 0); err == nil {
		t.Fatal("caption count mismatch accepted")
	}
}

// tinyCheckpoint saves a random tiny policy in dir and returns its file.
func tinyCheckpoint(t *testing.T, dir string) string {
	t.Helper()
	m, err := policy.New(policy.TinyConfig(), gotch.CPU, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ck := filepath.Join(dir, "m.safetensors")
	if err := m.Save(ck, nil); err != nil {
		t.Fatal(err)
	}
	return ck
}

func TestBenchWritesReport(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir := t.TempDir()
	ck := tinyCheckpoint(t, dir)
	out := filepath.Join(dir, "bench")
	rep, err := Bench([]Checkpoint{{"random", ck}}, Options{Scenes: 8, Seed: 9, Examples: 3, Out: out, Device: gotch.CPU})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Rows []struct {
			Name         string             `json:"name"`
			Embedders    map[string]float64 `json:"embedders"`
			Overall      float64            `json:"overall"`
			ObjectRecall *float64           `json:"object_recall"`
		} `json:"rows"`
	}
	js, err := os.ReadFile(filepath.Join(out, "unibench.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, r := range got.Rows {
		names = append(names, r.Name)
		if len(r.Embedders) != 3 || r.ObjectRecall == nil {
			t.Errorf("row %s lacks embedders or object_recall: %+v", r.Name, r)
		}
	}
	if strings.Join(names, ",") != "random,oracle,empty" {
		t.Fatalf("rows %v", names)
	}
	if !strings.Contains(rep.Markdown(), "| oracle |") || !strings.Contains(rep.Markdown(), "Overall") {
		t.Fatalf("markdown:\n%s", rep.Markdown())
	}
	f, err := os.Open(filepath.Join(out, "examples.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	im, err := png.Decode(f)
	if err != nil || im.Bounds().Dy() < 3*32 {
		t.Fatalf("examples.png: %v, %v", err, im.Bounds())
	}
	csv, _ := os.ReadFile(filepath.Join(out, "unibench_scenes.csv"))
	if n := strings.Count(string(csv), "\n"); n != 1+3*8 {
		t.Fatalf("per-scene CSV has %d lines, want header + 24", n)
	}
}
