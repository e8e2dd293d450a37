package eval

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/world"
	"github.com/unigrpo/unigrpo/world/embed"
)

// pattern writes a 40x30 PNG whose colours depend on k.
func pattern(t *testing.T, path string, k int) {
	t.Helper()
	im := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := range 30 {
		for x := range 40 {
			im.SetRGBA(x, y, color.RGBA{uint8((x*k*13 + y*7) % 256), uint8((y * k * 29) % 256), uint8((x + y + 60*k) % 256), 255})
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, im); err != nil {
		t.Fatal(err)
	}
}

func worldEmbedders(t *testing.T) []ImageEmbedder {
	t.Helper()
	wc := world.DefaultConfig()
	es, err := embed.All(wc)
	if err != nil {
		t.Fatal(err)
	}
	var out []ImageEmbedder
	for _, e := range es {
		out = append(out, embed.Square{Embedder: e, Side: wc.Size})
	}
	return out
}

// Identical folders score 1 under every embedder; a set of other images scores below 1; files
// pair by name with a recon_ prefix and any extension, and the unpaired are listed, not dropped.
// The three files are written, and the JSON carries mean/min/max/count per embedder and overall.
func TestCompareFiles(t *testing.T) {
	dir := t.TempDir()
	ref, same, other := filepath.Join(dir, "ref"), filepath.Join(dir, "same"), filepath.Join(dir, "other")
	for k, name := range []string{"a", "b", "c"} {
		pattern(t, filepath.Join(ref, name+".png"), k+1)
		pattern(t, filepath.Join(same, "recon_"+name+".png"), k+1)
	}
	pattern(t, filepath.Join(other, "a.png"), 7)
	pattern(t, filepath.Join(other, "recon_b.png"), 9)
	pattern(t, filepath.Join(other, "zzz.png"), 4)
	es := worldEmbedders(t)
	rep, err := CompareFiles(ref, []GenSet{{Name: "same", Path: same}, {Name: "other", Path: other}}, es, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Sets[0]
	if s.Pairs != 3 || len(s.RefOnly) != 0 || len(s.GenOnly) != 0 || math.Abs(s.Overall-1) > 1e-6 {
		t.Fatalf("identical set: %d pairs, unpaired %v / %v, overall %v", s.Pairs, s.RefOnly, s.GenOnly, s.Overall)
	}
	for _, e := range es {
		st := s.Embedders[e.Name()]
		if st.Count != 3 || math.Abs(st.Mean-1) > 1e-6 || math.Abs(st.Min-1) > 1e-6 {
			t.Errorf("identical set, %s: %+v, want similarity 1 on 3 pairs", e.Name(), st)
		}
	}
	o := rep.Sets[1]
	if o.Pairs != 2 || strings.Join(o.RefOnly, ",") != "c.png" || strings.Join(o.GenOnly, ",") != "zzz.png" {
		t.Fatalf("other set: %d pairs, ref only %v, gen only %v", o.Pairs, o.RefOnly, o.GenOnly)
	}
	if !(o.Overall < 0.999) {
		t.Errorf("different images score overall %v", o.Overall)
	}
	mean := 0.0
	for _, st := range o.Embedders {
		mean += st.Mean / float64(len(o.Embedders))
	}
	if math.Abs(mean-o.Overall) > 1e-12 {
		t.Errorf("overall %v is not the mean of the embedders' means %v", o.Overall, mean)
	}

	out := t.TempDir()
	if err := rep.Write(out); err != nil {
		t.Fatal(err)
	}
	var js struct {
		Sets []struct {
			Name      string                    `json:"name"`
			Overall   float64                   `json:"overall"`
			Embedders map[string]map[string]any `json:"embedders"`
		} `json:"sets"`
	}
	b, err := os.ReadFile(filepath.Join(out, "unibench.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &js); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mean", "min", "max", "count"} {
		if _, ok := js.Sets[1].Embedders[es[0].Name()][k]; !ok {
			t.Errorf("unibench.json lacks %s for %s", k, es[0].Name())
		}
	}
	f, err := os.Open(filepath.Join(out, "unibench_images.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 1+3+2 {
		t.Fatalf("csv: %d rows (%v), want a header and 5 pairs", len(rows), err)
	}
	md, _ := os.ReadFile(filepath.Join(out, "unibench.md"))
	if !strings.Contains(string(md), "zzz.png") {
		t.Error("unibench.md does not name the unpaired files")
	}
}

// Bench on a folder of image files: the checkpoint captions the folder's images (all of them at
// share 0, at most Scenes), the rows are the checkpoint and the empty caption (no oracle: files
// carry no scene), and the report has no understanding table.
func TestBenchOnImageFiles(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir := t.TempDir()
	ck := tinyCheckpoint(t, dir)
	imgs := filepath.Join(dir, "imgs")
	for k := range 5 {
		pattern(t, filepath.Join(imgs, fmt.Sprintf("p%d.png", k)), k+1)
	}
	out := filepath.Join(dir, "bench")
	rep, err := Bench([]Checkpoint{{"random", ck}}, worldTask(t, imgs), Options{Scenes: 4, Seed: 9, Examples: 2, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scenes != 4 || rep.Labels || len(rep.Rows) != 2 || rep.Rows[0].Name != "random" || rep.Rows[1].Name != "empty" {
		t.Fatalf("report: %d images, labels %v, %d rows", rep.Scenes, rep.Labels, len(rep.Rows))
	}
	if len(rep.Rows[0].Scenes) != 4 {
		t.Errorf("%d scored images, want 4", len(rep.Rows[0].Scenes))
	}
	md := rep.Markdown()
	if strings.Contains(md, "Understanding") || !strings.Contains(md, "4 held-out images of "+imgs) {
		t.Errorf("markdown:\n%s", md)
	}
	for _, f := range []string{"unibench.json", "unibench.md", "unibench_scenes.csv", "examples.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}
