package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Oracle for these tests: the headers of the files written here (testdata/bomb.png claims
// 10000 x 10000 pixels in 68 bytes; testdata/README) and the budgets given.

// A file whose header claims more pixels than the budget is refused from the header with an
// error naming the file and the budget, before any pixel memory is taken.
func TestLoadRefusesPixelBombFromHeader(t *testing.T) {
	_, err := Load("testdata/bomb.png", 8)
	if err == nil || !strings.Contains(err.Error(), "testdata/bomb.png") || !strings.Contains(err.Error(), "megapixels") {
		t.Fatalf("a 68-byte file claiming 100 megapixels: %v; want a refusal naming the file and the pixel budget", err)
	}
}

// The budget is a parameter: a 40 x 20 image passes a budget of 800 pixels and is refused under
// 799; a header with a negative or overflowing size never passes.
func TestLoadWithinBudget(t *testing.T) {
	p := filepath.Join(t.TempDir(), "wide.png")
	writePNG(t, p, halves(40, 20))
	if _, err := LoadWithin(p, 10, 800); err != nil {
		t.Fatalf("at the budget: %v", err)
	}
	if _, err := LoadWithin(p, 10, 799); err == nil || !strings.Contains(err.Error(), "wide.png") {
		t.Fatalf("over the budget: %v", err)
	}
	for _, wh := range [][2]int{{-1, 5}, {1 << 40, 1 << 40}, {1 << 62, 4}} {
		if err := CheckPixels("x", wh[0], wh[1], DefaultMaxPixels); err == nil {
			t.Errorf("%d x %d pixels passed", wh[0], wh[1])
		}
	}
}

// A folder counts an over-budget file as a bad image: named (with the budget) without
// skipBad, skipped and counted with it. Files are decoded once: after they are deleted, the
// next step draws them from the cache.
func TestFolderBudgetAndCache(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.png", "b.png"} {
		writePNG(t, filepath.Join(dir, n), halves(12, 8))
	}
	bomb, err := os.ReadFile("testdata/bomb.png")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "bomb.png"), bomb, 0o644)
	strict, err := OpenFolder(dir, 0, 8, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.Images(1, 1, 0, 32); err == nil || !strings.Contains(err.Error(), "bomb.png") || !strings.Contains(err.Error(), "megapixels") {
		t.Fatalf("strict folder drew the bomb: %v", err)
	}
	lax, err := OpenFolder(dir, 0, 8, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	first, err := lax.Images(1, 1, 0, 32)
	if err != nil || lax.TakeSkipped() != 1 {
		t.Fatalf("skipping folder: %v, want the bomb skipped once", err)
	}
	os.Remove(filepath.Join(dir, "a.png"))
	os.Remove(filepath.Join(dir, "b.png"))
	again, err := lax.Images(1, 1, 0, 32)
	if err != nil {
		t.Fatalf("the same draw after the files were deleted (not cached?): %v", err)
	}
	for i := range first {
		for j, v := range first[i].Pix {
			if again[i].Pix[j] != v {
				t.Fatalf("image %d value %d: %v from the file, %v from the cache", i, j, v, again[i].Pix[j])
			}
		}
	}
}

// The cache keeps the most recently used images within its byte budget.
func TestFitCacheEvictsLeastRecent(t *testing.T) {
	sq := func(v uint8) Square { return Square{Size: 2, RGB: []uint8{v, v, v, v, v, v, v, v, v, v, v, v}} }
	c := newFitCache(30) // two 12-byte images
	c.put("a", sq(1))
	c.put("b", sq(2))
	c.get("a") // b is now the least recent
	c.put("c", sq(3))
	if _, ok := c.get("b"); ok {
		t.Error("b kept past the budget")
	}
	if s, ok := c.get("a"); !ok || s.RGB[0] != 1 {
		t.Error("a dropped though used last")
	}
	if c.used != 24 {
		t.Errorf("%d bytes counted, want 24", c.used)
	}
	c.put("big", Square{Size: 4, RGB: make([]uint8, 48)}) // over the whole budget: not kept
	if _, ok := c.get("big"); ok || c.used != 24 {
		t.Errorf("an image over the budget was kept (%d bytes)", c.used)
	}
}
