package task

import (
	"testing"

	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/world"
)

// demoTraining is what `make demo` trains on: 2,000 supervised steps of 32 scenes and 300 GRPO
// steps of 8, seed 1, steps numbered from 1.
var demoTraining = []struct{ steps, batch int }{{2000, 32}, {300, 8}}

// No held-out scene's description is trained on, and validation and benchmark share none
// (oracle: exact set membership of the descriptions the demo's runs draw). Before the split the
// scenes of the benchmark's seed were drawn from the whole prior: the test measures how many of
// its 200 shared a description with the demo's training scenes then, and logs it.
func TestHeldOutScenesAreNeverTrainedOn(t *testing.T) {
	wc := world.DefaultConfig()
	vocab := world.NewVocab()
	desc := func(s world.Scene) string { return vocab.Decode(world.Oracle(s)) }
	src := Source{World: wc}
	trained, before := map[string]bool{}, map[string]bool{}
	for _, run := range demoTraining {
		for step := 1; step <= run.steps; step++ {
			for i := range run.batch {
				trained[desc(src.Scene(1, step, i))] = true
				before[desc(wc.Sample(stream.RNG(1, stream.Scene, step, i)))] = true
			}
		}
	}
	const n = 200
	bench, val := Source{World: wc, Benchmark: true}, Source{World: wc}
	benchDesc := map[string]bool{}
	leak, leakBefore := 0, 0
	byObjects := map[int]int{} // leaks before the split, by the scene's number of objects
	for i := range n {
		b := bench.HeldOutScene(20251125, i)
		if world.SplitOf(b) != world.Benchmark {
			t.Fatalf("benchmark scene %d is in %v", i, world.SplitOf(b))
		}
		benchDesc[desc(b)] = true
		if trained[desc(b)] {
			leak++
		}
		if old := wc.Sample(stream.RNG(20251125, stream.Eval, 0, i)); before[desc(old)] {
			leakBefore++
			byObjects[len(old.Objects)]++
		}
	}
	for i := range n {
		v := val.HeldOutScene(20260214, i)
		if trained[desc(v)] || benchDesc[desc(v)] {
			t.Fatalf("validation scene %d %q is trained on or in the benchmark", i, desc(v))
		}
	}
	t.Logf("benchmark scenes (seed 20251125) sharing a description with the demo's %d training descriptions: %d of %d with the split, %d of %d before it (by objects in the scene: %v)",
		len(trained), leak, n, leakBefore, n, byObjects)
	if leak != 0 {
		t.Fatalf("%d benchmark scenes are described like training scenes", leak)
	}
	if leakBefore == 0 {
		t.Fatal("the unsplit draw should share one-object descriptions with training (1,728 of them, 16,000 one-object training scenes)")
	}
}
