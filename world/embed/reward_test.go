package embed

import (
	"testing"

	"github.com/unigrpo/unigrpo/world"
)

// rewardScenes and rewardSeed fix the scenes of the reward tests.
const (
	rewardScenes = 100
	rewardSeed   = 2024
)

// measure returns the mean rewards of the given probes over the test scenes;
// the last column of each row is the mean over embedders.
func measure(t *testing.T, probes []Probe) (*Table, []string) {
	t.Helper()
	cfg := world.DefaultConfig()
	tb, err := MeasureProbes(cfg, mustAll(t, cfg), probes, rewardScenes, rewardSeed)
	if err != nil {
		t.Fatal(err)
	}
	return tb, append(append([]string(nil), tb.Embedders...), "mean")
}

// probeReward returns a probe's mean reward in column k (len(Embedders) = mean).
func probeReward(t *testing.T, tb *Table, probe string, k int) float64 {
	t.Helper()
	r, ok := tb.Row(probe)
	if !ok {
		t.Fatalf("no row %q", probe)
	}
	if k == len(r.Rewards) {
		return r.Mean
	}
	return r.Rewards[k]
}

// TestRewardTable prints the reward table (go test -v) and checks, for every
// embedder and their mean, that saying more of the truth scores more:
// oracle > partial > empty, oracle > first object only > empty, and a wrong
// attribute lowers the oracle's reward.
func TestRewardTable(t *testing.T) {
	probes := append(HonestProbes(), WrongProbe())
	probes = append(probes, AblationProbes()...)
	tb, cols := measure(t, probes)
	t.Logf("reward table (seed %d):\n%s", rewardSeed, tb.Markdown())
	for k, name := range cols {
		get := func(p string) float64 { return probeReward(t, tb, p, k) }
		empty, first, partial, oracle := get("empty"), get("first object only"), get("partial (baseline)"), get("oracle")
		if !(oracle > partial && partial > empty) {
			t.Errorf("%s: want oracle %.3f > partial %.3f > empty %.3f", name, oracle, partial, empty)
		}
		if !(oracle > first && first > empty) {
			t.Errorf("%s: want oracle %.3f > first object only %.3f > empty %.3f", name, oracle, first, empty)
		}
		if wrong := get("oracle, one wrong attribute"); wrong >= oracle-0.02 {
			t.Errorf("%s: one wrong attribute scores %.3f, oracle %.3f", name, wrong, oracle)
		}
		if pos := get("oracle without positions"); pos >= oracle-0.1 {
			t.Errorf("%s: positions are worth only %.3f", name, oracle-pos)
		}
		if name == "mean" {
			for _, p := range AblationProbes() {
				if v := get(p.Name); v >= oracle {
					t.Errorf("mean: %s scores %.3f, oracle %.3f", p.Name, v, oracle)
				}
			}
		}
	}
	// The edge embedder exists so that shape matters: it must value shapes
	// far more than the conv net does, and colour must matter to colour.
	worth := func(emb, probe string) float64 {
		for k, name := range cols {
			if name == emb {
				return probeReward(t, tb, "oracle", k) - probeReward(t, tb, probe, k)
			}
		}
		t.Fatalf("no embedder %q", emb)
		return 0
	}
	if e, c := worth("edge", "oracle without shapes"), worth("conv", "oracle without shapes"); e < 0.1 || e < 2*c {
		t.Errorf("shapes are worth %.3f under edge and %.3f under conv; want edge >= 0.1 and twice conv", e, c)
	}
	if c := worth("colour", "oracle without colours"); c < 0.3 {
		t.Errorf("colours are worth only %.3f under the colour embedder", c)
	}
}

// TestRewardNotHackable checks, for every embedder and their mean, that no
// degenerate caption scores above an honest partial caption (the first object
// only, fully described) on average, and that all but the repeated correct
// phrase (which collapses to exactly that caption) also stay below the
// supervised baseline's partial captions.
func TestRewardNotHackable(t *testing.T) {
	probes := append(HonestProbes(), DegenerateProbes()...)
	tb, cols := measure(t, probes)
	t.Logf("degenerate captions (seed %d):\n%s", rewardSeed, tb.Markdown())
	for k, name := range cols {
		first := probeReward(t, tb, "first object only", k)
		partial := probeReward(t, tb, "partial (baseline)", k)
		for _, p := range DegenerateProbes() {
			v := probeReward(t, tb, p.Name, k)
			if v > first {
				t.Errorf("%s: degenerate %q scores %.3f > first object only %.3f", name, p.Name, v, first)
			}
			if p.Name != "first object phrase x10" && v >= partial {
				t.Errorf("%s: degenerate %q scores %.3f >= partial baseline %.3f", name, p.Name, v, partial)
			}
		}
	}
}
