package trainer

import (
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/world"
)

// GRPO on a folder of PNG files (world renders at 40x40, so they are resized on the way in):
// one and two ranks give the same metrics, the world's scenes are not used, and a folder with no
// image is a clear error.
func TestGRPOOnImageFolder(t *testing.T) {
	init := baseline(t)
	dir := t.TempDir()
	wc := world.DefaultConfig()
	big := wc
	big.Size = 40
	for i := range 12 {
		im := big.Render(big.Sample(stream.RNG(99, stream.Scene, 0, i)))
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("scene%02d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, im.ToRGBA(1)); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	tmp := t.TempDir()
	var runs [][]Record
	for _, world := range []int{1, 2} {
		c := smallGRPO(init, filepath.Join(tmp, fmt.Sprint(world)))
		c.Steps, c.Images = 3, dir
		runRanksWith(t, world, false, func(d *Dist) error { return trainWorld(c, false, d) })
		recs, err := ReadRecords(filepath.Join(c.Out, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, recs)
	}
	world := smallGRPO(init, filepath.Join(tmp, "world"))
	world.Steps = 3
	runRanksWith(t, 1, false, func(d *Dist) error { return trainWorld(world, false, d) })
	wrecs, _ := ReadRecords(filepath.Join(world.Out, "metrics.jsonl"))
	same := true
	for i := range runs[0] {
		for _, k := range []string{"reward_mean", "loss", "length_mean"} {
			if x, y := runs[0][i][k], runs[1][i][k]; math.Abs(x-y) > 1e-6*math.Max(1, math.Abs(x)) {
				t.Errorf("step %d %s: 1 rank %v, 2 ranks %v", i+1, k, x, y)
			}
		}
		same = same && runs[0][i]["reward_mean"] == wrecs[i]["reward_mean"]
	}
	if same {
		t.Error("the folder run has the world run's rewards: the folder's images were not used")
	}
	c := smallGRPO(init, filepath.Join(tmp, "empty"))
	c.Images = t.TempDir()
	err := trainWorld(c, false, solo(t))
	if err == nil || !strings.Contains(err.Error(), "--images") || !strings.Contains(err.Error(), "holds no .png") {
		t.Errorf("empty folder: %v", err)
	}
}

// With SkipBad a corrupt file is skipped and counted in metrics.jsonl (images_skipped); without it
// the run stops naming the file.
func TestGRPOSkipsBadImages(t *testing.T) {
	init := baseline(t)
	dir := t.TempDir()
	wc := world.DefaultConfig()
	f, err := os.Create(filepath.Join(dir, "good.png"))
	if err != nil {
		t.Fatal(err)
	}
	png.Encode(f, wc.Render(wc.Sample(stream.RNG(1, stream.Scene, 0, 0))).ToRGBA(1))
	f.Close()
	os.WriteFile(filepath.Join(dir, "broken.png"), []byte("not an image"), 0o644)
	c := smallGRPO(init, filepath.Join(t.TempDir(), "run"))
	c.Steps, c.Images, c.ImagesHeld, c.EvalScenes = 2, dir, 0, 0
	if err := trainWorld(c, false, solo(t)); err == nil || !strings.Contains(err.Error(), "broken.png") {
		t.Fatalf("without --skip-bad-images: %v", err)
	}
	c.Out, c.SkipBad = filepath.Join(t.TempDir(), "run"), true
	if err := trainWorld(c, false, solo(t)); err != nil {
		t.Fatal(err)
	}
	recs, _ := ReadRecords(filepath.Join(c.Out, "metrics.jsonl"))
	skipped := 0.0
	for _, r := range recs {
		skipped += r["images_skipped"]
	}
	if len(recs) != 2 || skipped != 1 {
		t.Fatalf("%d records, %v images skipped; want 2 and the broken file once", len(recs), skipped)
	}
}
