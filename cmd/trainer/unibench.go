package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/eval"
	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf/vit"
	"github.com/unigrpo/unigrpo/world"
	"github.com/unigrpo/unigrpo/world/embed"
)

// runUnibench is Unified-Bench protocol 1 on image files: source images against the images a
// text-to-image model regenerated from their captions, under the chosen embedders.
func runUnibench(args []string) error {
	fs := newFlags("unibench", "--ref DIR --gen [NAME=]DIR [--gen ...] --out DIR [flags]")
	ref := fs.String("ref", "", "folder or JSONL manifest of the source images")
	gens := fs.StringArray("gen", nil, "folder or manifest of regenerated images (a file pairs with the source of the same name, a recon_ prefix allowed); repeat for several sets; NAME=DIR names a row")
	names := fs.String("embedder", strings.Join(embed.Names(), ","), "embedders, comma-separated: the world's ("+strings.Join(embed.Names(), ", ")+") and Hugging Face vision encoders as NAME=DIR or hf:DIR (CLIP, DINOv2 or SigLIP folders)")
	dtype := fs.String("dtype", "float32", "Hugging Face encoders: float32 or bfloat16")
	out := fs.String("out", "", "folder for unibench.md, unibench.json and unibench_images.csv")
	maxPixels := fs.Int("max-image-pixels", images.DefaultMaxPixels, "refuse an image file whose header claims more pixels than this")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *ref == "" || len(*gens) == 0 || *out == "" {
		return usagef("unibench: --ref, at least one --gen and --out are required")
	}
	kind, err := parseDType(*dtype)
	if err != nil {
		return err
	}
	runtime.LockOSThread() // the Hugging Face encoders run on libtorch
	defer runtime.UnlockOSThread()
	ies, closeAll, err := fileEmbedders(*names, kind)
	if err != nil {
		return err
	}
	defer closeAll()
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
	rep, err := eval.CompareFiles(*ref, sets, ies, *maxPixels)
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

// fileEmbedders builds the embedders of a --embedder list: the world's by name, Hugging Face
// vision encoders as NAME=DIR or hf:DIR (their row is named by NAME, or by the family).
func fileEmbedders(list string, kind raw.Kind) ([]eval.ImageEmbedder, func(), error) {
	var out []eval.ImageEmbedder
	var vits []*vit.Model
	closeAll := func() {
		for _, v := range vits {
			v.Close()
		}
	}
	wc := world.DefaultConfig()
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		name, dir, isHF := strings.Cut(item, "=")
		if !isHF && strings.HasPrefix(item, "hf:") {
			name, dir, isHF = "", strings.TrimPrefix(item, "hf:"), true
		}
		if !isHF {
			e, err := embed.New(wc, item)
			if err != nil {
				closeAll()
				return nil, nil, usagef("unibench: --embedder %s: %v", item, err)
			}
			out = append(out, embed.Square{Embedder: e, Side: wc.Size})
			continue
		}
		v, err := vit.LoadForImages(dir, gotch.CPU, kind)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("unibench: --embedder %s: %w", item, err)
		}
		vits = append(vits, v)
		if name == "" {
			out = append(out, v)
		} else {
			out = append(out, namedEmbedder{v, name})
		}
	}
	return out, closeAll, nil
}

// namedEmbedder gives an embedder the name the user chose for its row.
type namedEmbedder struct {
	eval.ImageEmbedder
	name string
}

func (n namedEmbedder) Name() string { return n.name }
