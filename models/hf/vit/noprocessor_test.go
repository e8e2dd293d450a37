package vit

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// A vision-encoder folder without preprocessor_config.json is refused when an embedder is
// loaded from it (train --reward clip=DIR), not at its first image. Oracle: the files of the
// folder (the transformers fixture, less that file).
func TestEmbedderNeedsPreprocessorConfig(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dir := vitCopyFixture(t, "clip_vision", nil, nil)
	if err := os.Remove(filepath.Join(dir, "preprocessor_config.json")); err != nil {
		t.Fatal(err)
	}
	m, err := LoadEmbedder(dir)
	if err == nil {
		m.Close()
		t.Fatal("an embedder loaded from a folder without preprocessor_config.json")
	}
	if !strings.Contains(err.Error(), "preprocessor_config.json") || !strings.Contains(err.Error(), dir) {
		t.Errorf("error %v; want it to name the folder and the file", err)
	}
}
