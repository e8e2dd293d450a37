package stream

import "testing"

func TestRNGStreamsDistinctAndRepeatable(t *testing.T) {
	seen := map[uint64]string{}
	for s := Scene; s <= Init; s++ {
		for step := 0; step < 4; step++ {
			for i := 0; i < 4; i++ {
				v := RNG(7, s, step, i).Uint64()
				if v != RNG(7, s, step, i).Uint64() {
					t.Fatal("stream not repeatable")
				}
				if _, dup := seen[v]; dup {
					t.Fatalf("streams collide at %v %d %d", s, step, i)
				}
				seen[v] = ""
			}
		}
	}
	if RNG(7, Scene, 1, 2).Uint64() == RNG(8, Scene, 1, 2).Uint64() {
		t.Fatal("seed ignored")
	}
}
