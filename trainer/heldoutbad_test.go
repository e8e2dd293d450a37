package trainer

import (
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/world"
)

// An unreadable file of the held-out split stops the run before its first step, naming the
// file, instead of turning held-out evaluation off while training goes on on the good files.
// Oracle: the files written here (the split is by a hash of each name: images.HeldOut).
func TestUnreadableHeldOutImageStopsTheRun(t *testing.T) {
	const share = 0.5
	dir := t.TempDir()
	wc := world.DefaultConfig()
	good := 0
	for i := 0; good < 4; i++ {
		name := fmt.Sprintf("good-%02d.png", i)
		if images.HeldOut(name, share) {
			continue
		}
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, wc.Render(wc.Sample(stream.RNG(3, stream.Scene, 0, i))).ToRGBA(1))
		f.Close()
		good++
	}
	broken := ""
	for i := 0; broken == ""; i++ {
		if name := fmt.Sprintf("broken-%d.png", i); images.HeldOut(name, share) {
			broken = name
		}
	}
	os.WriteFile(filepath.Join(dir, broken), []byte("not an image"), 0o644)
	c := smallGRPO(baseline(t), filepath.Join(t.TempDir(), "run"))
	c.Steps, c.Images, c.ImagesHeld, c.EvalScenes, c.EvalEvery = 1, dir, share, 2, 0
	err := trainWorld(c, false, solo(t))
	if err == nil || !strings.Contains(err.Error(), broken) || !strings.Contains(err.Error(), "held-out") {
		t.Fatalf("a run with an unreadable held-out image: %v; want an error naming %s", err, broken)
	}
	if _, err := os.Stat(filepath.Join(c.Out, "metrics.jsonl")); err == nil {
		t.Error("the run wrote metrics before stopping")
	}
}
