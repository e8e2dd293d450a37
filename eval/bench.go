package eval

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/atomicfile"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/embed"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/models/world"
)

// Checkpoint is a model to evaluate: a display name and a model file.
type Checkpoint struct {
	Name string
	Path string
}

// Options configure a Unified-Bench run.
type Options struct {
	Scenes   int           // held-out scenes
	Seed     uint64        // seed of the held-out scenes and of the decoder's draws
	Sampling SampleOptions // greedy by default
	Examples int           // scenes shown in the example grid
	Out      string        // folder for unibench.json, per-scene CSVs and the example grid ("" writes nothing)
	Device   gotch.Device
	// Images, when set, is a folder or manifest of image files evaluated instead of the world's
	// scenes: its held-out split (ImagesHeld, by a hash of each name, the split of trainer train
	// --images; all files when 0), first Scenes of them. Files carry no scene labels, so the
	// understanding metrics and the oracle row are left out.
	Images     string
	ImagesHeld float64
}

// Report is the outcome of a Unified-Bench run.
type Report struct {
	Scenes    int       `json:"scenes"`
	Seed      uint64    `json:"seed"`
	Embedders []string  `json:"embedder_names"`
	Source    string    `json:"source"` // "world" or the image folder or manifest
	Labels    bool      `json:"labels"` // the sources are world scenes with labels (understanding metrics)
	Rows      []*Result `json:"rows"`   // one per checkpoint, then "oracle" (ceiling) and "empty" (floor)
}

// Bench runs protocol 1 of Unified-Bench: every checkpoint captions the held-out scenes, the
// decoder regenerates each image from its caption, and each embedder compares it to the source.
// The oracle caption (the whole scene) and the empty caption bound what a captioner can reach.
// It must run on one goroutine locked to its OS thread (the models' rule).
func Bench(ckpts []Checkpoint, o Options) (*Report, error) {
	if o.Scenes < 1 {
		return nil, fmt.Errorf("--scenes %d: need at least one scene", o.Scenes)
	}
	wc := world.DefaultConfig()
	dec, err := world.NewDecoder(wc)
	if err != nil {
		return nil, err
	}
	es, err := embed.All(wc)
	if err != nil {
		return nil, err
	}
	var scenes []world.Scene
	var images []world.Image
	rep := &Report{Scenes: o.Scenes, Seed: o.Seed, Source: "world", Labels: o.Images == ""}
	if o.Images == "" {
		scenes, images = HeldOut(wc, o.Seed, o.Scenes)
	} else {
		if images, err = imageFiles(o.Images, o.ImagesHeld, o.Scenes, wc.Size); err != nil {
			return nil, err
		}
		rep.Source, rep.Scenes = o.Images, len(images)
	}
	for _, e := range es {
		rep.Embedders = append(rep.Embedders, e.Name())
	}
	for _, ck := range ckpts {
		m, _, err := policy.Load(ck.Path, o.Device)
		if err != nil {
			return nil, fmt.Errorf("--ckpt %s: %w", ck.Path, err)
		}
		caps, err := Captions(m, images, o.Sampling)
		m.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ck.Name, err)
		}
		r, err := Score(ck.Name, dec, es, scenes, images, caps, o.Seed, o.Examples)
		if err != nil {
			return nil, err
		}
		rep.Rows = append(rep.Rows, r)
	}
	bounds := []struct {
		name string
		caps [][]int
	}{{"empty", make([][]int, len(images))}}
	if scenes != nil {
		oracle := make([][]int, len(scenes))
		for i, s := range scenes {
			oracle[i] = world.Oracle(s)
		}
		bounds = append([]struct {
			name string
			caps [][]int
		}{{"oracle", oracle}}, bounds...)
	}
	for _, c := range bounds {
		r, err := Score(c.name, dec, es, scenes, images, c.caps, o.Seed, o.Examples)
		if err != nil {
			return nil, err
		}
		rep.Rows = append(rep.Rows, r)
	}
	if o.Out != "" {
		if err := rep.write(o.Out, images[:min(o.Examples, len(images))]); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// imageFiles loads the evaluation images of a folder or manifest: the held-out split of the
// files (all of them when share is 0), the first n by name, fitted to size x size.
func imageFiles(path string, share float64, n, size int) ([]world.Image, error) {
	items, held, err := images.Open(path, share)
	if err != nil {
		return nil, fmt.Errorf("--images: %w", err)
	}
	if share > 0 {
		if items = held; len(items) == 0 {
			return nil, fmt.Errorf("--images %s: no file falls in the held-out share %v", path, share)
		}
	}
	out := make([]world.Image, 0, min(n, len(items)))
	for _, it := range items[:min(n, len(items))] {
		sq, err := images.Load(it.Path, size)
		if err != nil {
			return nil, err
		}
		out = append(out, world.FromRGB8(sq.Size, sq.Size, sq.RGB))
	}
	return out, nil
}

// HeldOut returns n evaluation scenes and their images: the same for every run with the same
// seed, and disjoint from training scenes (their own random stream).
func HeldOut(wc world.Config, seed uint64, n int) ([]world.Scene, []world.Image) {
	scenes := make([]world.Scene, n)
	images := make([]world.Image, n)
	for i := range scenes {
		scenes[i] = wc.Sample(stream.RNG(seed, stream.Eval, 0, i))
		images[i] = wc.Render(scenes[i])
	}
	return scenes, images
}

// Markdown renders the two tables: similarity per embedder with Overall (the paper's Tables
// 2-3) and understanding (the paper's Table 8).
func (r *Report) Markdown() string {
	var b strings.Builder
	if r.Labels {
		fmt.Fprintf(&b, "Unified-Bench, protocol 1: %d held-out scenes (seed %d); similarity of the regenerated image to the source\n\n", r.Scenes, r.Seed)
	} else {
		fmt.Fprintf(&b, "Unified-Bench, protocol 1: %d held-out images of %s (decoder seed %d); similarity of the regenerated image to the source\n\n", r.Scenes, r.Source, r.Seed)
	}
	b.WriteString("| model |")
	for _, e := range r.Embedders {
		fmt.Fprintf(&b, " %s (min-max) |", e)
	}
	b.WriteString(" Overall | caption length |\n|---|")
	for range r.Embedders {
		b.WriteString("---|")
	}
	b.WriteString("---|---|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s |", row.Name)
		for _, e := range r.Embedders {
			st := row.Stats[e]
			fmt.Fprintf(&b, " %.3f (%.2f-%.2f) |", st.Mean, st.Min, st.Max)
		}
		fmt.Fprintf(&b, " **%.3f** | %.1f |\n", row.Overall, row.LengthMean)
	}
	if !r.Labels {
		return b.String() // image files carry no labels to judge understanding by
	}
	b.WriteString("\nUnderstanding of the captions\n\n")
	b.WriteString("| model | object precision | object recall | attribute accuracy | small-object recall | position accuracy | coverage |\n|---|---|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", row.Name, row.ObjectPrecision, row.ObjectRecall,
			row.AttributeAccuracy, row.SmallObjectRecall, row.PositionAccuracy, row.Coverage)
	}
	return b.String()
}

func (r *Report) write(dir string, sources []world.Image) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, "unibench.json"), append(js, '\n')); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, "unibench.md"), []byte(r.Markdown())); err != nil {
		return err
	}
	var csvb strings.Builder
	w := csv.NewWriter(&csvb)
	head := []string{"model", "scene", "caption", "length"}
	names := append([]string(nil), r.Embedders...)
	sort.Strings(names)
	head = append(append(head, names...), "overall")
	w.Write(head)
	for _, row := range r.Rows {
		for _, s := range row.Scenes {
			rec := []string{row.Name, strconv.Itoa(s.Scene), s.Caption, strconv.Itoa(s.Length)}
			for _, n := range names {
				rec = append(rec, strconv.FormatFloat(s.Similarity[n], 'f', 4, 64))
			}
			w.Write(append(rec, strconv.FormatFloat(s.Overall, 'f', 4, 64)))
		}
	}
	w.Flush()
	if err := atomicfile.Write(filepath.Join(dir, "unibench_scenes.csv"), []byte(csvb.String())); err != nil {
		return err
	}
	if len(sources) > 0 {
		return writeGrid(filepath.Join(dir, "examples.png"), sources, r.Rows)
	}
	return nil
}
