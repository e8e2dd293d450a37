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

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/atomicfile"
)

// Checkpoint is a model to evaluate: a display name and a model file.
type Checkpoint struct {
	Name string
	Path string
}

// Task is what Unified-Bench of checkpoints is run on, wired by the main: where the held-out
// images come from, the reward that regenerates and compares them, the judge of understanding
// (nil: none) and how a checkpoint becomes a captioner.
type Task struct {
	Source interface {
		HeldOut(seed uint64, n int) (*images.Set, error)
	}
	Reward Reward
	Judge  Judge
	// Load opens a checkpoint; close frees it.
	Load func(path string) (m Captioner, close func(), err error)
	// Name describes the source in the report: "world", or the folder or manifest.
	Name string
}

// Options configure a Unified-Bench run.
type Options struct {
	Scenes   int           // held-out images
	Seed     uint64        // seed of the held-out images and of the decoder's draws
	Sampling SampleOptions // greedy by default
	Examples int           // images shown in the example grid
	Out      string        // folder for unibench.json, per-image CSVs and the example grid ("" writes nothing)
}

// Report is the outcome of a Unified-Bench run.
type Report struct {
	Scenes    int       `json:"scenes"`
	Seed      uint64    `json:"seed"`
	Embedders []string  `json:"embedder_names"`
	Source    string    `json:"source"` // "world" or the image folder or manifest
	Labels    bool      `json:"labels"` // the images have labels (understanding metrics)
	Rows      []*Result `json:"rows"`   // one per checkpoint, then the reference captions (ceiling) and "empty" (floor)
	metrics   []Metric
}

// Bench runs protocol 1 of Unified-Bench: every checkpoint captions the held-out images, the
// reward's decoder regenerates each image from its caption, and each embedder compares it to the
// source. The reference captions (for the world: the whole scene, the "oracle") and the empty
// caption bound what a captioner can reach. It must run on one goroutine locked to its OS thread
// (the models' rule).
func Bench(ckpts []Checkpoint, task Task, o Options) (*Report, error) {
	if o.Scenes < 1 {
		return nil, fmt.Errorf("--scenes %d: need at least one scene", o.Scenes)
	}
	set, err := task.Source.HeldOut(o.Seed, o.Scenes)
	if err != nil {
		return nil, err
	}
	rep := &Report{Scenes: len(set.Images), Seed: o.Seed, Source: task.Name, Labels: set.Labels != nil && task.Judge != nil,
		Embedders: task.Reward.Embedders()}
	if rep.Labels {
		rep.metrics = task.Judge.Metrics()
	}
	score := func(name string, caps []Caption) error {
		r, err := Score(name, task.Reward, task.Judge, set, caps, o.Seed, o.Examples)
		if err == nil {
			rep.Rows = append(rep.Rows, r)
		}
		return err
	}
	for _, ck := range ckpts {
		m, closeModel, err := task.Load(ck.Path)
		if err != nil {
			return nil, fmt.Errorf("--ckpt %s: %w", ck.Path, err)
		}
		caps, err := Captions(m, set.Images, o.Sampling)
		closeModel()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ck.Name, err)
		}
		if err := score(ck.Name, caps); err != nil {
			return nil, err
		}
	}
	if set.Captions != nil {
		name := "reference"
		if set.Labels != nil {
			name = "oracle" // the world's full descriptions
		}
		if err := score(name, TextCaptions(set.Captions)); err != nil {
			return nil, err
		}
	}
	if err := score("empty", make([]Caption, len(set.Images))); err != nil {
		return nil, err
	}
	if o.Out != "" {
		if err := rep.write(o.Out, set.Images[:min(o.Examples, len(set.Images))]); err != nil {
			return nil, err
		}
	}
	return rep, nil
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
	b.WriteString("\nUnderstanding of the captions\n\n| model |")
	var cols []string
	for _, m := range r.metrics {
		if m.Title != "" {
			cols = append(cols, m.Key)
			fmt.Fprintf(&b, " %s |", m.Title)
		}
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(cols)) + "\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %s |", row.Name)
		for _, k := range cols {
			fmt.Fprintf(&b, " %.3f |", row.Understanding[k])
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (r *Report) write(dir string, sources []images.Planar) error {
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
