package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The README's quick start runs as written, in a fresh folder, and ends with the figure.
// Oracle: the README's own lines and the files they promise.
func TestReadmeQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	at := strings.Index(text, "## Quick start")
	if at < 0 {
		t.Fatal("README.md has no Quick start section")
	}
	block := text[at:]
	open := strings.Index(block, "```sh\n")
	if open < 0 {
		t.Fatal("the Quick start has no sh block")
	}
	block = block[open+len("```sh\n"):]
	block = block[:strings.Index(block, "```")]
	tmp := t.TempDir()
	ran := 0
	for _, line := range strings.Split(block, "\n") {
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		if words[0] != "bin/trainer" {
			t.Fatalf("a quick-start line this test cannot run: %q", line)
		}
		for i, w := range words {
			if strings.HasPrefix(w, "runs/") {
				words[i] = filepath.Join(tmp, w)
			}
		}
		if got, code := runProgram(t, words[1:]...); code != 0 {
			t.Fatalf("%s: exit %d\n%s", line, code, got)
		}
		ran++
	}
	if ran < 3 {
		t.Fatalf("the quick start ran %d commands, want the SFT, GRPO and plot lines", ran)
	}
	if _, err := os.Stat(filepath.Join(tmp, "runs/quick/plots/training_dynamics.png")); err != nil {
		t.Errorf("the quick start's figure: %v", err)
	}
}
