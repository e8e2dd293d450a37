package eval

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/atomicfile"
	"github.com/unigrpo/unigrpo/reward"
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
	Reward reward.Reward
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
	// Bootstrap is the number of resamples of the scenes behind each interval (0: no intervals);
	// they are drawn with Seed, so a report is reproducible.
	Bootstrap int
	// Split names the held-out split of the source ("benchmark", "validation"; "" for none) in
	// the report.
	Split string
}

// Report is the outcome of a Unified-Bench run.
type Report struct {
	Scenes    int       `json:"scenes"`
	Seed      uint64    `json:"seed"`
	Embedders []string  `json:"embedder_names"`
	Source    string    `json:"source"`          // "world" or the image folder or manifest
	Labels    bool      `json:"labels"`          // the images have labels (understanding metrics)
	Split     string    `json:"split,omitempty"` // the world's held-out split: benchmark or validation
	Rows      []*Result `json:"rows"`            // one per checkpoint, then the reference captions (ceiling) and "empty" (floor)
	// Resamples and BootstrapSeed say how the intervals were drawn (Bootstrap; 0: none).
	Resamples     int    `json:"bootstrap"`
	BootstrapSeed uint64 `json:"bootstrap_seed,omitempty"`
	// Deltas are the paired differences of each row against the first, with intervals.
	Deltas  []Delta `json:"deltas,omitempty"`
	metrics []Metric
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
	if o.Bootstrap < 0 {
		return nil, fmt.Errorf("--bootstrap %d: use 0 (no intervals) or more resamples", o.Bootstrap)
	}
	set, err := task.Source.HeldOut(o.Seed, o.Scenes)
	if err != nil {
		return nil, err
	}
	rep := &Report{Scenes: len(set.Images), Seed: o.Seed, Source: task.Name, Split: o.Split, Labels: set.Labels != nil && task.Judge != nil}
	if task.Reward != nil {
		rep.Embedders = task.Reward.Embedders()
	}
	if rep.Labels {
		rep.metrics = task.Judge.Metrics()
	}
	score := func(name string, rw reward.Reward, caps []Caption) (*Result, error) {
		r, err := Score(name, rw, task.Judge, set, caps, o.Seed, o.Examples)
		if err == nil {
			rep.Rows = append(rep.Rows, r)
		}
		return r, err
	}
	for _, ck := range ckpts {
		if err := benchOne(ck, task, set, o, rep, score); err != nil {
			return nil, err
		}
	}
	if task.Reward != nil {
		if err := referenceRows(task.Reward, set, score); err != nil {
			return nil, err
		}
	} // else every checkpoint decoded with itself: no task-wide decoder scores the reference rows
	if err := rep.Bootstrap(o.Bootstrap, o.Seed); err != nil {
		return nil, err
	}
	if o.Out != "" {
		if err := rep.write(o.Out, set.Images[:min(o.Examples, len(set.Images))]); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// referenceRows scores the reference captions (for the world: the whole scene, the "oracle"),
// where the set has them, and the empty caption with the task's decoder.
func referenceRows(rw reward.Reward, set *images.Set, score func(string, reward.Reward, []Caption) (*Result, error)) error {
	if set.Captions != nil {
		name := "reference"
		if set.Labels != nil {
			name = "oracle" // the world's full descriptions
		}
		if _, err := score(name, rw, TextCaptions(set.Captions)); err != nil {
			return err
		}
	}
	_, err := score("empty", rw, make([]Caption, len(set.Images)))
	return err
}

// benchOne scores one checkpoint: its captions regenerated by the task's decoder, or by the
// model itself when it is a reward.SelfDecoder, and its probes when it is a Prober. The model stays open
// until both are done.
func benchOne(ck Checkpoint, task Task, set *images.Set, o Options, rep *Report,
	score func(string, reward.Reward, []Caption) (*Result, error)) error {
	m, closeModel, err := task.Load(ck.Path)
	if err != nil {
		return fmt.Errorf("--ckpt %s: %w", ck.Path, err)
	}
	defer closeModel()
	rw := task.Reward
	if sd, ok := m.(reward.SelfDecoder); ok {
		rw = sd.Decoder()
	}
	if rw == nil {
		return fmt.Errorf("%s: the task has no decoder and the model does not decode itself", ck.Name)
	}
	if len(rep.Embedders) == 0 {
		rep.Embedders = rw.Embedders()
	}
	caps, err := Captions(m, set.Images, o.Sampling)
	if err != nil {
		return fmt.Errorf("%s: %w", ck.Name, err)
	}
	r, err := score(ck.Name, rw, caps)
	if err != nil {
		return err
	}
	pr, ok := m.(Prober)
	if !ok || set.Labels == nil {
		return nil
	}
	var probes map[string]float64
	if ip, ok := pr.(ItemProber); ok {
		var items map[string][]Ratio
		if probes, items, err = ip.ProbeItems(set, o.Seed); err == nil {
			r.addItems(items)
		}
	} else {
		probes, err = pr.Probe(set, o.Seed)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", ck.Name, err)
	}
	if r.Understanding == nil {
		r.Understanding = map[string]float64{}
	}
	for k, v := range probes {
		r.Understanding[k] = v
	}
	for _, p := range pr.Probes() {
		if !slices.ContainsFunc(rep.metrics, func(q Metric) bool { return q.Key == p.Key }) {
			rep.metrics = append(rep.metrics, p)
		}
	}
	rep.Labels = true
	return nil
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
