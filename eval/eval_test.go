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

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/models/captioner"
	"github.com/unigrpo/unigrpo/world"
	worldtask "github.com/unigrpo/unigrpo/world/task"
)

// worldTask is Unified-Bench on the world (or on the files of imgs), wired as cmd/trainer does.
func worldTask(t *testing.T, imgs string) Task {
	t.Helper()
	wc := world.DefaultConfig()
	rw, err := worldtask.NewReward(wc, "all")
	if err != nil {
		t.Fatal(err)
	}
	task := Task{Source: worldtask.Source{World: wc}, Reward: rw, Judge: worldtask.Judge{}, Name: "world",
		Load: func(path string) (Captioner, func(), error) {
			m, _, err := captioner.Load(path, gotch.CPU)
			if err != nil {
				return nil, nil, err
			}
			return m, m.Close, nil
		}}
	if imgs != "" {
		f, err := images.OpenFolder(imgs, 0, wc.Size, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		task.Source, task.Name = f, imgs
	}
	return task
}

func TestScoreOracleAndEmpty(t *testing.T) {
	task := worldTask(t, "")
	set, err := task.Source.HeldOut(5, 30)
	if err != nil {
		t.Fatal(err)
	}
	vocab := world.NewVocab()
	first := make([]string, len(set.Images))
	for i, l := range set.Labels {
		s := l.(world.Scene)
		first[i] = vocab.Decode(world.Oracle(world.Scene{Objects: s.Objects[:1], Background: s.Background}))
	}
	o, err := Score("oracle", task.Reward, task.Judge, set, TextCaptions(set.Captions), 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := Score("first", task.Reward, task.Judge, set, TextCaptions(first), 5, 0)
	e, _ := Score("empty", task.Reward, task.Judge, set, make([]Caption, len(set.Images)), 5, 0)
	es := task.Reward.Embedders()
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
	if o.Understanding["object_recall"] != 1 || o.Understanding["object_precision"] != 1 || e.Understanding["object_recall"] != 0 {
		t.Fatalf("understanding: oracle %v, empty %v", o.Understanding, e.Understanding)
	}
	if len(o.Reconstructions) != 2 || len(o.Scenes) != 30 {
		t.Fatalf("kept %d reconstructions and %d scene rows", len(o.Reconstructions), len(o.Scenes))
	}
	for _, st := range o.Stats {
		if st.Min > st.Mean || st.Mean > st.Max {
			t.Fatalf("stat out of order: %+v", st)
		}
	}
	if _, err := Score("x", task.Reward, task.Judge, set, TextCaptions(set.Captions[:3]), 5, 0); err == nil {
		t.Fatal("caption count mismatch accepted")
	}
}

// tinyCheckpoint saves a random tiny policy in dir and returns its file.
func tinyCheckpoint(t *testing.T, dir string) string {
	t.Helper()
	m, err := captioner.New(captioner.TinyConfig(), gotch.CPU, 3)
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
	// The same checkpoint twice: its paired differences are exactly 0 with intervals [0, 0]
	// (oracle: exact arithmetic, the same captions scored on the same scenes and resamples).
	rep, err := Bench([]Checkpoint{{"random", ck}, {"again", ck}}, worldTask(t, ""), Options{Scenes: 8, Seed: 9, Examples: 3, Out: out, Bootstrap: 200, Split: "benchmark"})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Rows []struct {
			Name         string             `json:"name"`
			Embedders    map[string]float64 `json:"embedders"`
			Overall      float64            `json:"overall"`
			ObjectRecall *float64           `json:"object_recall"`
			CILow        map[string]float64 `json:"ci_low"`
			CIHigh       map[string]float64 `json:"ci_high"`
		} `json:"rows"`
		Deltas []Delta `json:"deltas"`
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
		for _, k := range []string{"overall", "length_mean", "object_recall", "coverage"} {
			lo, okl := r.CILow[k]
			hi, okh := r.CIHigh[k]
			if !okl || !okh || lo > hi {
				t.Errorf("row %s: interval of %s [%v, %v] (present %v %v)", r.Name, k, lo, hi, okl, okh)
			}
		}
		if !(r.CILow["overall"] <= r.Overall && r.Overall <= r.CIHigh["overall"]) {
			t.Errorf("row %s: overall %v outside [%v, %v]", r.Name, r.Overall, r.CILow["overall"], r.CIHigh["overall"])
		}
	}
	if strings.Join(names, ",") != "random,again,oracle,empty" {
		t.Fatalf("rows %v", names)
	}
	if len(got.Deltas) != 3 || got.Deltas[0].Name != "again" || got.Deltas[0].Base != "random" {
		t.Fatalf("deltas %+v", got.Deltas)
	}
	for k, d := range got.Deltas[0].Delta {
		if d != 0 || got.Deltas[0].CILow[k] != 0 || got.Deltas[0].CIHigh[k] != 0 {
			t.Errorf("identical checkpoints differ in %s: %v [%v, %v]", k, d, got.Deltas[0].CILow[k], got.Deltas[0].CIHigh[k])
		}
	}
	if d := got.Deltas[1]; d.Name != "oracle" || !(d.CILow["object_recall"] > 0) {
		t.Errorf("oracle against a random captioner: object recall %+v", d)
	}
	md := rep.Markdown()
	if !strings.Contains(md, "Paired differences against random") || !strings.Contains(md, "| again | +0.000 [+0.000, +0.000] |") ||
		!strings.Contains(md, "of the benchmark split") {
		t.Errorf("markdown lacks the intervals or the differences:\n%s", md)
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
	if n := strings.Count(string(csv), "\n"); n != 1+4*8 {
		t.Fatalf("per-scene CSV has %d lines, want header + 32", n)
	}
}
