package eval

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/atomicfile"
	"github.com/unigrpo/unigrpo/internal/vec"
)

// ImageEmbedder is what Unified-Bench on image files needs of an embedder: a name, the side of
// its square input, and a feature vector for an image fitted to it.
type ImageEmbedder interface {
	Name() string
	Size() int
	Embed(images.Square) []float32
}

// GenSet is one folder (or manifest) of regenerated images, under the name its row gets.
type GenSet struct {
	Name, Path string
}

// FileRow is one image pair's similarities.
type FileRow struct {
	Name       string
	Similarity map[string]float64
	Overall    float64
}

// FileSetResult is one generated set against the references.
type FileSetResult struct {
	Name      string          `json:"name"`
	Path      string          `json:"path"`
	Embedders map[string]Stat `json:"embedders"`
	// Overall is the unweighted mean over embedders of their mean similarities.
	Overall float64 `json:"overall"`
	Pairs   int     `json:"pairs"`
	// RefOnly and GenOnly name the files that found no partner; they are counted, not scored.
	RefOnly []string  `json:"ref_only"`
	GenOnly []string  `json:"gen_only"`
	Rows    []FileRow `json:"-"`
}

// FileReport is Unified-Bench protocol 1 on image files: source images against each set of
// images regenerated from their captions by the user's text-to-image model.
type FileReport struct {
	Ref       string           `json:"ref"`
	EmbedList []string         `json:"embedder_order"`
	Sets      []*FileSetResult `json:"sets"`
}

// pairKey is the name a file is paired by: its name with a "recon_" prefix of the file name
// removed and the extension dropped (a PNG regeneration pairs with a JPEG source).
func pairKey(name string) string {
	dir, file := path.Split(name)
	file = strings.TrimPrefix(file, "recon_")
	return dir + strings.TrimSuffix(file, path.Ext(file))
}

// PairFiles matches generated files to reference files by name (pairKey) and returns the pairs in
// the references' order and the unmatched names of each side.
func PairFiles(ref, gen []images.Item) (pairs [][2]images.Item, refOnly, genOnly []string, err error) {
	byKey := map[string]images.Item{}
	for _, g := range gen {
		k := pairKey(g.Name)
		if prev, dup := byKey[k]; dup {
			return nil, nil, nil, fmt.Errorf("unibench: generated files %s and %s pair with the same reference", prev.Name, g.Name)
		}
		byKey[k] = g
	}
	used := map[string]bool{}
	for _, r := range ref {
		k := pairKey(r.Name)
		if g, ok := byKey[k]; ok && !used[k] {
			pairs = append(pairs, [2]images.Item{r, g})
			used[k] = true
		} else {
			refOnly = append(refOnly, r.Name)
		}
	}
	for _, g := range gen {
		if !used[pairKey(g.Name)] {
			genOnly = append(genOnly, g.Name)
		}
	}
	return pairs, refOnly, genOnly, nil
}

// CompareFiles scores each generated set against the reference images under every embedder:
// per pair the cosine of the two images' features, per embedder the mean, min, max and count,
// and Overall, the unweighted mean of the embedders' means. A file over maxPixels pixels (0:
// images.DefaultMaxPixels) is an error naming it.
func CompareFiles(refPath string, gens []GenSet, es []ImageEmbedder, maxPixels int) (*FileReport, error) {
	if len(es) == 0 || len(gens) == 0 {
		return nil, fmt.Errorf("unibench: need at least one embedder and one generated set")
	}
	ref, err := images.List(refPath)
	if err != nil {
		return nil, err
	}
	rep := &FileReport{Ref: refPath}
	for _, e := range es {
		rep.EmbedList = append(rep.EmbedList, e.Name())
	}
	refFeat := map[string]map[string][]float32{} // reference name -> embedder -> features
	features := func(it images.Item, e ImageEmbedder) ([]float32, error) {
		sq, err := images.LoadWithin(it.Path, e.Size(), maxPixels)
		if err != nil {
			return nil, err
		}
		return e.Embed(sq), nil
	}
	for _, g := range gens {
		gen, err := images.List(g.Path)
		if err != nil {
			return nil, err
		}
		pairs, refOnly, genOnly, err := PairFiles(ref, gen)
		if err != nil {
			return nil, err
		}
		if len(pairs) == 0 {
			return nil, fmt.Errorf("unibench: no file of %s pairs with one of %s (names must match, a generated file may start with recon_)", g.Path, refPath)
		}
		set := &FileSetResult{Name: g.Name, Path: g.Path, Pairs: len(pairs), RefOnly: nonNil(refOnly), GenOnly: nonNil(genOnly)}
		acc := newSimilarities(rep.EmbedList)
		sims := make([]float64, len(es))
		for _, p := range pairs {
			if refFeat[p[0].Name] == nil {
				refFeat[p[0].Name] = map[string][]float32{}
			}
			for i, e := range es {
				rf, ok := refFeat[p[0].Name][e.Name()]
				if !ok {
					if rf, err = features(p[0], e); err != nil {
						return nil, err
					}
					refFeat[p[0].Name][e.Name()] = rf
				}
				gf, err := features(p[1], e)
				if err != nil {
					return nil, err
				}
				sims[i] = vec.Cosine(rf, gf)
			}
			row := FileRow{Name: p[0].Name}
			row.Similarity, row.Overall = acc.add(sims), vec.Mean(sims)
			set.Rows = append(set.Rows, row)
		}
		set.Embedders, set.Overall = acc.result()
		rep.Sets = append(rep.Sets, set)
	}
	return rep, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Markdown renders the report as a table: one row per generated set, one column per embedder.
func (r *FileReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Unified-Bench on image files\n\nReferences: %s. Similarity: cosine of image features, per embedder; Overall: the unweighted mean of the embedders' means.\n\n", r.Ref)
	fmt.Fprintf(&b, "| set | pairs | %s | Overall | unpaired (ref / gen) |\n|---|---:|%s---:|---|\n",
		strings.Join(r.EmbedList, " | "), strings.Repeat("---:|", len(r.EmbedList)))
	for _, s := range r.Sets {
		var cells []string
		for _, e := range r.EmbedList {
			st := s.Embedders[e]
			cells = append(cells, fmt.Sprintf("%.4f (%.3f-%.3f)", st.Mean, st.Min, st.Max))
		}
		fmt.Fprintf(&b, "| %s | %d | %s | **%.4f** | %d / %d |\n", s.Name, s.Pairs, strings.Join(cells, " | "), s.Overall, len(s.RefOnly), len(s.GenOnly))
	}
	for _, s := range r.Sets {
		if n := len(s.RefOnly) + len(s.GenOnly); n > 0 {
			fmt.Fprintf(&b, "\n%s: %d files without a partner, not scored: %s\n", s.Name, n,
				strings.Join(slices.Concat(s.RefOnly, s.GenOnly), ", "))
		}
	}
	return b.String()
}

// Write saves unibench.md, unibench.json and unibench_images.csv (one row per pair and set) in
// dir, each atomically.
func (r *FileReport) Write(dir string) error {
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	var rows [][]string
	rows = append(rows, append(append([]string{"set", "image"}, r.EmbedList...), "overall"))
	for _, s := range r.Sets {
		for _, row := range s.Rows {
			line := []string{s.Name, row.Name}
			for _, e := range r.EmbedList {
				line = append(line, fmt.Sprintf("%.6f", row.Similarity[e]))
			}
			rows = append(rows, append(line, fmt.Sprintf("%.6f", row.Overall)))
		}
	}
	var cb strings.Builder
	w := csv.NewWriter(&cb)
	if err := w.WriteAll(rows); err != nil {
		return err
	}
	for name, data := range map[string][]byte{"unibench.md": []byte(r.Markdown()), "unibench.json": js, "unibench_images.csv": []byte(cb.String())} {
		if err := atomicfile.Write(filepath.Join(dir, name), data); err != nil {
			return fmt.Errorf("unibench: %w", err)
		}
	}
	return nil
}
