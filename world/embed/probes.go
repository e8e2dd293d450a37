package embed

import (
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/world"
)

// Probe is a named way of captioning a scene, used to measure what the reward
// pays for: Caption returns token ids (no BOS or EOS) for scene s, drawing any
// randomness from rng.
type Probe struct {
	Name    string
	Caption func(s world.Scene, rng *rand.Rand) []int
}

// maxCaptionLen is the caption length degenerate probes fill up to, the
// length at which a collapsed captioner was seen repeating one word.
const maxCaptionLen = 40

// HonestProbes returns captions that are true but say more or less: the empty
// caption, the first object only (fully described, no background), the
// supervised baseline's partial captions (world.DefaultPartialOptions) and the
// oracle, in increasing order of what they should score.
func HonestProbes() []Probe {
	return []Probe{
		{"empty", func(world.Scene, *rand.Rand) []int { return nil }},
		{"first object only", firstObject},
		{"partial (baseline)", func(s world.Scene, rng *rand.Rand) []int {
			return world.Partial(s, world.DefaultPartialOptions(), rng)
		}},
		{"oracle", func(s world.Scene, _ *rand.Rand) []int { return world.Oracle(s) }},
	}
}

// WrongProbe returns the oracle caption with one attribute of one object
// changed to another value (kind and object chosen at random; a moved object
// goes to an empty cell).
func WrongProbe() Probe { return Probe{"oracle, one wrong attribute", oneWrong} }

// DegenerateProbes returns captions a reward hacker might emit: one word
// repeated, the same phrase repeated, more objects than the world holds, and
// random tokens, all at maximum length. None of them may score above
// "first object only" on average.
func DegenerateProbes() []Probe {
	return []Probe{
		{"\"large\" x40", func(world.Scene, *rand.Rand) []int { return repeatWord(world.NumSizes - 1) }},
		{"first colour word x40", func(s world.Scene, _ *rand.Rand) []int {
			return repeatWord(world.NumSizes + int(s.Objects[0].Color))
		}},
		{"random word x40", func(_ world.Scene, rng *rand.Rand) []int {
			return repeatWord(rng.IntN(world.NewVocab().V() - world.Sep - 1))
		}},
		{"first object phrase x10", func(s world.Scene, _ *rand.Rand) []int { return repeatPhrase(firstObject(s, nil)) }},
		{"large white square x10", func(world.Scene, *rand.Rand) []int {
			sp := world.Spec{Size: world.Large, Color: world.White, Shape: world.Square, Cell: world.NoCell}
			return repeatPhrase(world.Caption{Objects: []world.Spec{sp}, Background: world.NoBackground}.Tokens())
		}},
		{"nine random objects", nineObjects},
		{"all nine positions", func(world.Scene, *rand.Rand) []int {
			c := world.Caption{Background: world.NoBackground}
			for cell := range world.NumCells {
				c.Objects = append(c.Objects, world.Spec{Size: world.NoSize, Color: world.NoColor, Shape: world.NoShape, Cell: cell})
			}
			return c.Tokens()
		}},
		{"40 random tokens", func(_ world.Scene, rng *rand.Rand) []int {
			ids := make([]int, maxCaptionLen)
			v := world.NewVocab().V()
			for i := range ids {
				ids[i] = rng.IntN(v)
			}
			return ids
		}},
	}
}

// AblationProbes returns the oracle caption with one kind of attribute left
// out of every phrase (or the background left out): what each kind is worth.
func AblationProbes() []Probe {
	without := func(name string, drop func(*world.Caption)) Probe {
		return Probe{"oracle without " + name, func(s world.Scene, _ *rand.Rand) []int {
			c := s.Caption()
			drop(&c)
			return c.Tokens()
		}}
	}
	each := func(f func(*world.Spec)) func(*world.Caption) {
		return func(c *world.Caption) {
			for i := range c.Objects {
				f(&c.Objects[i])
			}
		}
	}
	return []Probe{
		without("sizes", each(func(s *world.Spec) { s.Size = world.NoSize })),
		without("colours", each(func(s *world.Spec) { s.Color = world.NoColor })),
		without("shapes", each(func(s *world.Spec) { s.Shape = world.NoShape })),
		without("positions", each(func(s *world.Spec) { s.Cell = world.NoCell })),
		without("background", func(c *world.Caption) { c.Background = world.NoBackground }),
	}
}

// firstObject describes the scene's first object fully, nothing else.
func firstObject(s world.Scene, _ *rand.Rand) []int {
	return world.Caption{Objects: []world.Spec{s.Objects[0].Spec()}, Background: world.NoBackground}.Tokens()
}

// repeatWord returns maxCaptionLen copies of the k-th attribute word (k counts
// from the first word after Sep).
func repeatWord(k int) []int {
	ids := make([]int, maxCaptionLen)
	for i := range ids {
		ids[i] = world.Sep + 1 + k
	}
	return ids
}

// repeatPhrase joins copies of a phrase with Sep up to maxCaptionLen tokens.
func repeatPhrase(phrase []int) []int {
	var ids []int
	for len(ids)+len(phrase)+1 <= maxCaptionLen {
		if len(ids) > 0 {
			ids = append(ids, world.Sep)
		}
		ids = append(ids, phrase...)
	}
	return ids
}

// nineObjects describes nine random, fully specified objects, one per cell.
func nineObjects(_ world.Scene, rng *rand.Rand) []int {
	c := world.Caption{Background: world.NoBackground}
	for _, cell := range rng.Perm(world.NumCells) {
		c.Objects = append(c.Objects, world.Spec{
			Size:  world.Size(rng.IntN(world.NumSizes)),
			Color: world.Color(rng.IntN(world.NumColors)),
			Shape: world.Shape(rng.IntN(world.NumShapes)),
			Cell:  cell,
		})
	}
	return c.Tokens()
}

// oneWrong is the oracle with one attribute of one object changed.
func oneWrong(s world.Scene, rng *rand.Rand) []int {
	c := s.Caption()
	i := rng.IntN(len(c.Objects))
	sp := &c.Objects[i]
	switch rng.IntN(4) {
	case 0:
		sp.Size = world.Size(other(int(sp.Size), world.NumSizes, rng))
	case 1:
		sp.Color = world.Color(other(int(sp.Color), world.NumColors, rng))
	case 2:
		sp.Shape = world.Shape(other(int(sp.Shape), world.NumShapes, rng))
	default:
		var used [world.NumCells]bool
		for _, o := range s.Objects {
			used[o.Cell] = true
		}
		var free []int
		for cell, u := range used {
			if !u {
				free = append(free, cell)
			}
		}
		if len(free) > 0 {
			sp.Cell = free[rng.IntN(len(free))]
		}
	}
	return c.Tokens()
}

// other returns a value in [0, n) different from v.
func other(v, n int, rng *rand.Rand) int {
	return (v + 1 + rng.IntN(n-1)) % n
}
