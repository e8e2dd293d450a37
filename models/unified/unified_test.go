package unified

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/models/hf/janus"
	"github.com/unigrpo/unigrpo/world"
)

// testShape is a unified model small enough that every test runs in about a second.
var testShape = Shape{Dim: 32, Layers: 1, Heads: 2, Vision: 16, VLayers: 1, Codebook: 32, CodeDim: 4, Channels: 32}

func testFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteFolder(dir, testShape, 5); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testOptions are the demo's settings with short captions and one cheap embedder in the
// reward (the conv embedder takes half a second to build).
func testOptions(stage Stage) Options {
	o := DefaultOptions()
	o.Stage, o.MaxLen, o.Reward = stage, 8, "edge"
	return o
}

func openTest(t *testing.T, dir string, o Options) *Policy {
	t.Helper()
	p, err := Open(dir, gotch.CPU, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func lossOf(t *testing.T, p *Policy, imgs []images.Planar, rows [][]int) (float64, int) {
	t.Helper()
	l, n, err := p.Loss(imgs, rows)
	if err != nil {
		t.Fatal(err)
	}
	defer l.MustDrop()
	if d := l.MustSize(); len(d) != 0 {
		t.Fatalf("loss of shape %v, not a scalar", d)
	}
	return l.Float64Values()[0], n
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// The vocabulary: Text and Encode are inverse over all V ids (so every word is distinct), an
// unknown word is reported, and the prompts have the layout tokens.go documents. (Oracle: the
// documented layouts.)
func TestVocabularyAndPrompts(t *testing.T) {
	ids := make([]int, V)
	for i := range ids {
		ids[i] = i
	}
	if got, ok := Encode(Text(ids)); !ok || !reflect.DeepEqual(got, ids) {
		t.Errorf("Encode(Text(0..V-1)) = %v, %v", got, ok)
	}
	if _, ok := Encode("red zorblax"); ok {
		t.Error("an unknown word was encoded")
	}
	if Word(BeginImage) != "<begin_of_image>" || Word(Draw) != "<draw>" {
		t.Errorf("marker words %q %q", Word(BeginImage), Word(Draw))
	}
	img := slices.Repeat([]int{ImageToken}, 3)
	if got, want := CaptionPrompt(3), slices.Concat([]int{world.BOS}, img, []int{Describe}); !reflect.DeepEqual(got, want) {
		t.Errorf("CaptionPrompt %v", got)
	}
	if got, want := QuestionPrompt(3, []int{7, 8}), slices.Concat([]int{world.BOS}, img, []int{Ask, 7, 8, Answer}); !reflect.DeepEqual(got, want) {
		t.Errorf("QuestionPrompt %v", got)
	}
	if got := DrawPrompt([]int{7}); !reflect.DeepEqual(got, []int{world.BOS, Draw, 7, BeginImage}) {
		t.Errorf("DrawPrompt %v", got)
	}
}

// The folder WriteFolder makes reads as a Janus of the world's vocabulary and image size whose
// tokenizer grid is its generation grid; bad shapes are refused. (Oracle: config.go's layout.)
func TestWriteFolder(t *testing.T) {
	c, err := janus.ReadConfig(testFolder(t))
	if err != nil {
		t.Fatal(err)
	}
	size := world.DefaultConfig().Size
	if c.Text.Vocab != V || c.ImageTokenID != ImageToken || c.BOI != BeginImage || c.BOS != world.BOS || c.PAD != world.PAD ||
		c.Vision.ImageSize != size || c.VQ.Grid(size) != c.Vision.Grid() || c.VQ.NumEmbeddings != testShape.Codebook {
		t.Errorf("config %+v", c)
	}
	for _, s := range []Shape{{Dim: 32, Layers: 1, Heads: 3, Vision: 16, VLayers: 1, Codebook: 32, CodeDim: 4, Channels: 32},
		{Dim: 32, Layers: 1, Heads: 2, Vision: 16, VLayers: 1, Codebook: 32, CodeDim: 4, Channels: 48}} {
		if err := WriteFolder(t.TempDir(), s, 1); err == nil {
			t.Errorf("shape %+v was accepted", s)
		}
	}
}

// Data: Pairs depends only on (seed, step, index), so a rank's share [lo, hi) is the slice of
// the whole batch (world-size invariance); example j of a scene has task j mod 3 with its
// marker first; ParseExample splits rows back; EmptyDraw 1 makes every drawing prompt empty.
// (Oracle: the keyed streams and the documented row layout.)
func TestData(t *testing.T) {
	d := DefaultData()
	const seed, step, k = 9, 4, 6
	imgs, rows, err := d.Pairs(seed, step, 0, 4, k)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 4 || len(rows) != 4*k {
		t.Fatalf("%d images, %d rows", len(imgs), len(rows))
	}
	again, rows2, _ := d.Pairs(seed, step, 0, 4, k)
	if !reflect.DeepEqual(imgs, again) || !reflect.DeepEqual(rows, rows2) {
		t.Error("Pairs is not deterministic")
	}
	for _, share := range [][2]int{{0, 2}, {2, 4}, {1, 3}, {3, 4}} {
		lo, hi := share[0], share[1]
		im, rs, _ := d.Pairs(seed, step, lo, hi, k)
		if !reflect.DeepEqual(im, imgs[lo:hi]) || !reflect.DeepEqual(rs, rows[lo*k:hi*k]) {
			t.Errorf("share [%d, %d) differs from the whole batch's slice", lo, hi)
		}
	}
	if _, other, _ := d.Pairs(seed, step+1, 0, 4, k); reflect.DeepEqual(rows, other) {
		t.Error("two steps drew the same rows")
	}
	markers := []int{Describe, Ask, Draw}
	for r, row := range rows {
		if row[0] != markers[r%k%3] {
			t.Fatalf("row %d (%s) starts with %s", r, Text(row), Word(row[0]))
		}
		ex, err := ParseExample(row)
		if err != nil {
			t.Fatal(err)
		}
		var back []int
		switch ex.Task {
		case TaskCaption:
			back = slices.Concat([]int{Describe}, ex.Caption)
		case TaskQuestion:
			back = slices.Concat([]int{Ask}, ex.Question, []int{Answer}, ex.Answer)
			if len(ex.Question) == 0 || len(ex.Answer) != 1 {
				t.Errorf("row %d: question %v, answer %v", r, ex.Question, ex.Answer)
			}
		case TaskDraw:
			back = slices.Concat([]int{Draw}, ex.Caption)
		}
		if ex.Task != r%k%3 || !reflect.DeepEqual(back, row) {
			t.Errorf("row %d: %s parses as %+v", r, Text(row), ex)
		}
	}
	for _, bad := range [][]int{nil, {Ask, 7, 8}, {7, 8}} {
		if _, err := ParseExample(bad); err == nil {
			t.Errorf("row %v parsed", bad)
		}
	}
	d.EmptyDraw = 1
	_, empty, _ := d.Pairs(seed, step, 0, 4, 3)
	for r := 2; r < len(empty); r += 3 {
		if !reflect.DeepEqual(empty[r], []int{Draw}) {
			t.Errorf("EmptyDraw 1: drawing row %s", Text(empty[r]))
		}
	}
}

// A folder that is not the world's unified model (here one reading 64x64 images, as a Janus-Pro
// folder reads 384x384) is refused from its config.json, before its weights are read: the test
// removes them. (Oracle: the error names the size.)
func TestOpenRefusesOtherImageSizeBeforeWeights(t *testing.T) {
	dir := testFolder(t)
	path := filepath.Join(dir, "config.json")
	js, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(js, &cfg); err != nil {
		t.Fatal(err)
	}
	v := cfg["vision_config"].(map[string]any)
	v["image_size"], v["patch_size"] = 64, 8 // the same 8x8 grid of patches
	js, _ = json.Marshal(cfg)
	if err := os.WriteFile(path, js, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, gotch.CPU, testOptions(StageModel))
	if err == nil || !strings.Contains(err.Error(), "reads 64x64 images") {
		t.Errorf("Open: %v; want the image size refused", err)
	}
}
