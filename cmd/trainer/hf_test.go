package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/trainer"
)

const fixtures = "../../models/hf/testdata/transformers"

// writeImages writes n small PNGs of different colours into dir.
func writeImages(t *testing.T, dir string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, 40, 36))
		for y := range 36 {
			for x := range 40 {
				img.Set(x, y, color.RGBA{uint8(40 * i), uint8(6 * x), uint8(7 * y), 255})
			}
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("img%d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, img)
		f.Close()
	}
}

// trainer unibench with Hugging Face vision encoders next to a world embedder: identical folders
// score 1 under every embedder (oracle: the cosine of a vector with itself).
func TestUnibenchWithHFEncoders(t *testing.T) {
	tmp := t.TempDir()
	ref := filepath.Join(tmp, "ref")
	writeImages(t, ref, 3)
	out := filepath.Join(tmp, "out")
	emb := "conv,clip=" + filepath.Join(fixtures, "clip_vision") + ",hf:" + filepath.Join(fixtures, "dinov2") + ",siglip=" + filepath.Join(fixtures, "siglip_vision")
	got, code := runProgram(t, "unibench", "--ref", ref, "--gen", "same="+ref, "--embedder", emb, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, got)
	}
	var rep struct {
		Sets []struct {
			Embedders map[string]struct {
				Mean  float64 `json:"mean"`
				Count int     `json:"count"`
			} `json:"embedders"`
			Overall float64 `json:"overall"`
		} `json:"sets"`
	}
	js, err := os.ReadFile(filepath.Join(out, "unibench.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &rep); err != nil || len(rep.Sets) != 1 {
		t.Fatalf("unibench.json: %v\n%s", err, js)
	}
	for _, name := range []string{"conv", "clip", "dinov2", "siglip"} {
		st, ok := rep.Sets[0].Embedders[name]
		if !ok || st.Count != 3 || st.Mean < 1-1e-5 {
			t.Errorf("embedder %s: %+v (present %v); want 3 pairs of similarity 1", name, st, ok)
		}
	}
	if _, code := runProgram(t, "unibench", "--ref", ref, "--gen", ref, "--embedder", "clip="+tmp, "--out", out); code != 1 {
		t.Errorf("a folder that is not a model: exit %d", code)
	}
}

// trainer generate continues a prompt greedily as transformers does (oracle: the fixture's
// generate() of its second row, whose prompt is unpadded).
func TestGenerate(t *testing.T) {
	dir := filepath.Join(fixtures, "qwen2")
	var exp struct {
		Inputs struct {
			RowTexts []string `json:"row_texts"`
			InputIDs [][]int  `json:"input_ids"`
		} `json:"inputs"`
		Generation struct {
			Generate [][]int `json:"generate"`
		} `json:"generation"`
	}
	js, _ := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err := json.Unmarshal(js, &exp); err != nil {
		t.Fatal(err)
	}
	got, code := runProgram(t, "generate", "--policy", "hf:"+dir, "--prompt", exp.Inputs.RowTexts[1], "--max-new", "8", "--ids")
	want, _ := json.Marshal(exp.Generation.Generate[1])
	if code != 0 || strings.TrimSpace(got) != string(want) {
		t.Fatalf("generate: exit %d, %q; want %s", code, got, want)
	}
	if got, code := runProgram(t, "generate", "--policy", t.TempDir(), "--prompt", "x"); code != 2 || !strings.Contains(got, "not a Hugging Face model folder") {
		t.Errorf("generate on an empty folder: exit %d, %q", code, got)
	}
}

// trainer tokenize prints transformers' ids of each JSON string line (oracle: the fixture's
// tokenizer samples) and names a bad line.
func TestTokenize(t *testing.T) {
	run := func(stdin string) (string, int) {
		cmd := exec.Command(os.Args[0], "tokenize", "--tokenizer", filepath.Join(fixtures, "qwen2"))
		cmd.Env = append(os.Environ(), "TRAINER_TEST_MAIN=1")
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		return string(out), 0
	}
	got, code := run("\"Hello world\"\n\"<|im_start|>user\\nWhat is the light?<|im_end|>\"\n")
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if code != 0 || len(lines) != 2 || lines[0] != "[309,75,75,78,264,295,301]" || !strings.HasPrefix(lines[1], "[361,") {
		t.Fatalf("exit %d:\n%s", code, got)
	}
	if got, code := run("\"ok\"\nnot json\n"); code == 0 || !strings.Contains(got, "line 2") {
		t.Errorf("a bad line: exit %d, %q", code, got)
	}
}

// GRPO with a Hugging Face vision encoder in the reward, next to a world embedder: the run writes
// the encoder's share of the reward (oracle: that it is a cosine, in [-1, 1], and moves).
func TestTrainWithHFRewardEncoder(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	got, code := runProgram(t, "train", "--init", tinyCheckpoint(t), "--out", out, "--steps", "2", "--batch", "2", "--group", "2",
		"--eval-scenes", "2", "--plot-every", "0", "--monitor-interval", "0", "--reward", "conv,clip="+filepath.Join(fixtures, "clip_vision"))
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, got)
	}
	recs, err := trainer.ReadRecords(filepath.Join(out, "metrics.jsonl"))
	if err != nil || len(recs) != 2 {
		t.Fatalf("%d records (%v)", len(recs), err)
	}
	for _, r := range recs {
		c, ok := r["reward_clip"]
		if !ok || c < -1 || c > 1 || c == 0 {
			t.Errorf("reward_clip %v (present %v)", c, ok)
		}
	}
	// serve-reward serves Hugging Face encoders (servehf_test.go); one whose folder is missing is
	// a usage error naming it, before the service listens.
	if got, code := runProgram(t, "serve-reward", "--listen", "127.0.0.1:0", "--reward", "clip=no-such-dir"); code != 2 || !strings.Contains(got, "no-such-dir") {
		t.Errorf("serve-reward with a missing Hugging Face encoder folder: exit %d, %q", code, got)
	}
}

// trainer generate --image with a Qwen2.5-VL model: transformers' generate() on the fixture's
// image and prompt, token for token (oracle: the fixture).
func TestGenerateWithImage(t *testing.T) {
	dir := filepath.Join(fixtures, "qwen2_5_vl")
	got, code := runProgram(t, "generate", "--policy", "hf:"+dir, "--image", filepath.Join(dir, "image.png"),
		"--prompt", "What is in the picture?", "--max-new", "6", "--ids")
	if code != 0 || strings.TrimSpace(got) != "[64,220,341,268,94,64]" {
		t.Fatalf("exit %d: %q; want [64,220,341,268,94,64]", code, got)
	}
}

// A Qwen2.5-VL policy's --images are fitted, without --image-size, to the side of 256 image
// tokens within its processor's pixel bounds, and the run's log says so; --image-size overrides
// it. Oracle: the fixture's preprocessor_config.json (patch_size, merge_size and the pixel bounds
// of size), with transformers' smart_resize of a square worked out by hand.
func TestTrainQwenVLImageSizeFromProcessor(t *testing.T) {
	dir := filepath.Join(fixtures, "qwen2_5_vl")
	var pc struct {
		Patch int `json:"patch_size"`
		Merge int `json:"merge_size"`
		Size  struct {
			Min float64 `json:"shortest_edge"`
			Max float64 `json:"longest_edge"`
		} `json:"size"`
	}
	js, err := os.ReadFile(filepath.Join(dir, "preprocessor_config.json"))
	if err != nil || json.Unmarshal(js, &pc) != nil || pc.Patch == 0 || pc.Merge == 0 || pc.Size.Max == 0 {
		t.Fatalf("preprocessor_config.json: %v %+v", err, pc)
	}
	f := pc.Patch * pc.Merge
	want := 16 * f // 256 tokens: 16 x 16 after the merge
	if s := float64(want * want); s > pc.Size.Max {
		want = int(math.Floor(math.Sqrt(pc.Size.Max)/float64(f))) * f
	} else if s < pc.Size.Min {
		want = int(math.Ceil(math.Sqrt(pc.Size.Min)/float64(f))) * f
	}
	tokens := (want / pc.Patch) * (want / pc.Patch) / (pc.Merge * pc.Merge)
	tmp := t.TempDir()
	imgs := filepath.Join(tmp, "imgs")
	writeImages(t, imgs, 3)
	for _, c := range []struct {
		extra []string
		want  string
	}{
		{nil, fmt.Sprintf("fitted to %d px (the default of %s: %d image tokens", want, filepath.Join(dir, "preprocessor_config.json"), tokens)},
		{[]string{"--image-size", "48"}, "fitted to 48 px (--image-size)"},
	} {
		out := filepath.Join(tmp, fmt.Sprint(len(c.extra)))
		args := append([]string{"train", "--init", dir, "--out", out, "--images", imgs, "--images-held-out", "0", "--steps", "1",
			"--batch", "2", "--group", "2", "--max-len", "4", "--eval-scenes", "0", "--plot-every", "0", "--monitor-interval", "0"}, c.extra...)
		if got, code := runProgram(t, args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s", c.extra, code, got)
		}
		log, _ := os.ReadFile(filepath.Join(out, "log.txt"))
		if !strings.Contains(string(log), c.want) {
			t.Errorf("%v: the run's log does not say %q:\n%s", c.extra, c.want, log)
		}
	}
}
