// Package stream keys every random draw of a run by (seed, stream, step, index).
package stream

import "math/rand/v2"

// ID names an independent family of random streams. Every random draw of a run comes from a
// stream keyed by (seed, stream, step, index), never from a process-global generator, so a run's
// numbers do not depend on how its scenes are split over ranks, and a resumed run draws exactly
// what an uninterrupted one would (the RNG state of a checkpoint is its seed and step).
type ID uint64

// The streams of a run. Held-out evaluation scenes use their own stream, so they are disjoint
// from training scenes for any step.
const (
	Scene      ID = iota + 1 // training scenes: index = global scene index in the step
	Caption                  // SFT's partial captions: index = global scene index
	Sample                   // policy sampling: index = global trajectory index (scene*G + g)
	Decode                   // the decoder's guesses: index = global trajectory index
	Eval                     // held-out scenes: step 0, index = scene number
	EvalDecode               // the decoder in evaluation: index = scene number
	Init                     // model initialisation
	Image                    // images drawn from a folder: index = global image index in the step
)

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// RNG returns the generator of one keyed stream.
func RNG(seed uint64, s ID, step, index int) *rand.Rand {
	a := splitmix(seed ^ splitmix(uint64(s)))
	b := splitmix(splitmix(a^uint64(step)) ^ uint64(index))
	return rand.New(rand.NewPCG(a, b))
}

// Key names one stream: what a reward needs to make its random draws for one caption (a remote
// reward receives it in each request, so that its draws do not depend on batching either).
type Key struct {
	Seed   uint64 `json:"seed"`
	Stream ID     `json:"stream"`
	Step   int    `json:"step"`
	Index  int    `json:"index"`
}

// RNG returns the key's generator: RNG(k.Seed, k.Stream, k.Step, k.Index).
func (k Key) RNG() *rand.Rand { return RNG(k.Seed, k.Stream, k.Step, k.Index) }

// Seed64 folds the key into one 64-bit number, for a reward whose generator takes a plain seed
// (a diffusion pipeline's torch.Generator): distinct keys give distinct seeds with overwhelming
// probability.
func (k Key) Seed64() uint64 {
	a := splitmix(k.Seed ^ splitmix(uint64(k.Stream)))
	return splitmix(splitmix(a^uint64(k.Step)) ^ uint64(k.Index))
}

// Keys returns the keys of indices first..first+n-1 of one stream and step.
func Keys(seed uint64, s ID, step, first, n int) []Key {
	out := make([]Key, n)
	for i := range out {
		out[i] = Key{Seed: seed, Stream: s, Step: step, Index: first + i}
	}
	return out
}
