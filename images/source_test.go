package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Oracle: the files written here (which are good, which are corrupt) and the keyed draws.

// An unreadable file drawn for training stops with an error naming it, or with skipBad is
// skipped (drawing again from the row's stream) and counted once.
func TestFolderSkipsBadImages(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.png", "b.png", "c.png"} {
		writePNG(t, filepath.Join(dir, n), halves(12, 8))
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.png"), []byte("not a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	strict, err := OpenFolder(dir, 0, 8, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.Images(1, 1, 0, 64); err == nil || !strings.Contains(err.Error(), "bad.png") || !strings.Contains(err.Error(), "--skip-bad-images") {
		t.Fatalf("strict folder drew the corrupt file: %v", err)
	}
	lax, err := OpenFolder(dir, 0, 8, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := lax.Images(1, 1, 0, 64)
	if err != nil || len(imgs) != 64 {
		t.Fatalf("skipping folder: %d images, %v", len(imgs), err)
	}
	for _, im := range imgs {
		if im.C != 3 || im.H != 8 || im.W != 8 {
			t.Fatalf("image %dx%dx%d, want 3x8x8", im.C, im.H, im.W)
		}
	}
	if n := lax.TakeSkipped(); n != 1 {
		t.Errorf("skipped %d, want the one corrupt file once", n)
	}
	if _, err := lax.Images(1, 2, 0, 64); err != nil || lax.TakeSkipped() != 0 {
		t.Errorf("a known bad file was counted again (%v)", err)
	}

	allBad := t.TempDir()
	os.WriteFile(filepath.Join(allBad, "x.png"), []byte("junk"), 0o644)
	f, err := OpenFolder(allBad, 0, 8, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Images(1, 1, 0, 1); err == nil || !strings.Contains(err.Error(), "no training image") {
		t.Errorf("a folder of corrupt files: %v", err)
	}
}

// The held-out set is the held-out split (every file at share 0), first n by name, with the
// manifest's captions when all have one.
func TestFolderHeldOut(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for _, n := range []string{"a.png", "b.png", "c.png"} {
		writePNG(t, filepath.Join(dir, n), halves(8, 8))
		lines = append(lines, `{"image": "`+n+`", "caption": "caption of `+n+`"}`)
	}
	man := filepath.Join(dir, "set.jsonl")
	os.WriteFile(man, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	f, err := OpenFolder(man, 0, 8, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.HeldOut(0, 2)
	if err != nil || len(s.Images) != 2 || s.Names[0] != "a.png" || len(s.Captions) != 2 || s.Captions[1] != "caption of b.png" || s.Labels != nil {
		t.Fatalf("held-out set %+v, %v", s, err)
	}
	g, _ := OpenFolder(dir, 0, 8, false, 0) // a folder: no captions
	if s, _ := g.HeldOut(0, 5); s == nil || len(s.Images) != 3 || s.Captions != nil {
		t.Fatalf("folder held-out set %+v", s)
	}
}
