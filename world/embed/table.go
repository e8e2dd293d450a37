package embed

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/unigrpo/unigrpo/reward"
	"github.com/unigrpo/unigrpo/world"
)

// Table holds mean rewards: one row per probe, one column per embedder.
type Table struct {
	Embedders []string
	Rows      []Row
	Scenes    int
}

// Row is one probe's mean reward under each embedder and their mean.
type Row struct {
	Probe   string
	Rewards []float64
	Mean    float64
}

// Row returns the row of a probe by name.
func (t *Table) Row(probe string) (Row, bool) {
	for _, r := range t.Rows {
		if r.Probe == probe {
			return r, true
		}
	}
	return Row{}, false
}

// MeasureProbes computes the mean reward of each probe over scenes drawn from
// the world with the given seed. For scene i, every probe's caption is decoded
// with the same decoder rng state, so rows differ only by what the captions
// say (common random numbers).
func MeasureProbes(cfg world.Config, es []reward.Embedder, probes []Probe, scenes int, seed uint64) (*Table, error) {
	if scenes < 1 {
		return nil, fmt.Errorf("reward table: %d scenes: need at least 1", scenes)
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("reward table: no embedders given")
	}
	dec, err := world.NewDecoder(cfg)
	if err != nil {
		return nil, fmt.Errorf("reward table: %w", err)
	}
	t := &Table{Scenes: scenes, Rows: make([]Row, len(probes))}
	for _, e := range es {
		t.Embedders = append(t.Embedders, e.Name())
	}
	for p, probe := range probes {
		t.Rows[p] = Row{Probe: probe.Name, Rewards: make([]float64, len(es))}
	}
	src := make([][]float32, len(es))
	for i := range scenes {
		s := cfg.Sample(rand.New(rand.NewPCG(seed, uint64(i))))
		im := cfg.Render(s)
		for k, e := range es {
			src[k] = e.Embed(im)
		}
		for p, probe := range probes {
			ids := probe.Caption(s, rand.New(rand.NewPCG(seed+1+uint64(p), uint64(i))))
			rec := dec.Decode(ids, rand.New(rand.NewPCG(seed^0xdec0de, uint64(i))))
			_, parts := reward.Similarities(es, src, rec)
			for k, v := range parts {
				t.Rows[p].Rewards[k] += v
			}
		}
	}
	for p := range t.Rows {
		r := &t.Rows[p]
		for k := range r.Rewards {
			r.Rewards[k] /= float64(scenes)
			r.Mean += r.Rewards[k]
		}
		r.Mean /= float64(len(es))
	}
	return t, nil
}

// Markdown renders the table with three decimals.
func (t *Table) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| caption (mean reward, %d scenes) |", t.Scenes)
	for _, e := range t.Embedders {
		fmt.Fprintf(&b, " %s |", e)
	}
	b.WriteString(" mean |\n|---|")
	b.WriteString(strings.Repeat("---:|", len(t.Embedders)+1))
	b.WriteByte('\n')
	for _, r := range t.Rows {
		fmt.Fprintf(&b, "| %s |", r.Probe)
		for _, v := range r.Rewards {
			fmt.Fprintf(&b, " %.3f |", v)
		}
		fmt.Fprintf(&b, " %.3f |\n", r.Mean)
	}
	return b.String()
}

// RewardTable measures the honest probes (empty, first object only, partial,
// oracle), a wrong attribute, the ablations and the degenerate probes over scenes drawn with
// seed, and returns the table as markdown.
func RewardTable(cfg world.Config, es []reward.Embedder, scenes int, seed uint64) (string, error) {
	probes := append(HonestProbes(), WrongProbe())
	probes = append(probes, AblationProbes()...)
	probes = append(probes, DegenerateProbes()...)
	t, err := MeasureProbes(cfg, es, probes, scenes, seed)
	if err != nil {
		return "", err
	}
	return t.Markdown(), nil
}
