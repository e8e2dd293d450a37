package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/unigrpo/unigrpo/eval"
	"github.com/unigrpo/unigrpo/models/embed"
	"github.com/unigrpo/unigrpo/models/world"
)

// runUnibench is Unified-Bench protocol 1 on image files: source images against the images a
// text-to-image model regenerated from their captions, under the chosen embedders.
func runUnibench(args []string) error {
	fs := newFlags("unibench", "--ref DIR --gen [NAME=]DIR [--gen ...] --out DIR [flags]")
	ref := fs.String("ref", "", "folder or JSONL manifest of the source images")
	gens := fs.StringArray("gen", nil, "folder or manifest of regenerated images (a file pairs with the source of the same name, a recon_ prefix allowed); repeat for several sets; NAME=DIR names a row")
	names := fs.String("embedder", strings.Join(embed.Names(), ","), "embedders, comma-separated: "+strings.Join(embed.Names(), ", "))
	out := fs.String("out", "", "folder for unibench.md, unibench.json and unibench_images.csv")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *ref == "" || len(*gens) == 0 || *out == "" {
		return usagef("unibench: --ref, at least one --gen and --out are required")
	}
	wc := world.DefaultConfig()
	es, err := embed.ByNames(wc, *names)
	if err != nil {
		return usagef("unibench: --embedder %s: %v", *names, err)
	}
	var ies []eval.ImageEmbedder
	for _, e := range es {
		ies = append(ies, embed.Square{Embedder: e, Side: wc.Size})
	}
	var sets []eval.GenSet
	for _, g := range *gens {
		name, path := "", g
		if i := strings.Index(g, "="); i > 0 {
			name, path = g[:i], g[i+1:]
		}
		if name == "" {
			name = filepath.Base(filepath.Clean(path))
		}
		sets = append(sets, eval.GenSet{Name: name, Path: path})
	}
	for _, p := range append([]string{*ref}, *gens...) {
		if i := strings.Index(p, "="); i > 0 && p != *ref {
			p = p[i+1:]
		}
		if _, err := os.Stat(p); err != nil {
			return usagef("unibench: %s: no such folder or manifest", p)
		}
	}
	rep, err := eval.CompareFiles(*ref, sets, ies)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("unibench: %w", err)
	}
	if err := rep.Write(*out); err != nil {
		return err
	}
	fmt.Print(rep.Markdown())
	fmt.Printf("\nwrote unibench.md, unibench.json and unibench_images.csv in %s\n", *out)
	return nil
}
