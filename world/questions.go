package world

import "math/rand/v2"

// Questions draws n questions about s. Kinds come in blocks of NumQKinds
// holding every kind once, in random order, so every kind gets n/NumQKinds
// questions (one more for some when n is not a multiple). Exists questions
// alternate between yes and no, the first one's answer drawn at random (so
// one question a call is balanced too), always no on an empty scene; a no
// question is, half the time when there is one, a near miss: the colour of
// an object with another shape or the reverse. Cell questions ask an occupied cell three
// times in four, Where and CountColor questions an object of the scene three
// times in four, else an absent colour and shape (none) or any colour. Where
// is only asked about a colour and shape at most one object has. The same
// rng state gives the same questions.
func Questions(s Scene, n int, rng *rand.Rand) []QA {
	qs := newQuestioner(s, rng)
	out := make([]QA, 0, max(n, 0))
	var perm []int
	for i := range max(n, 0) {
		if i%NumQKinds == 0 {
			perm = rng.Perm(NumQKinds)
		}
		out = append(out, ask(s, qs.question(QKind(perm[i%NumQKinds]))))
	}
	return out
}

// questioner draws the questions of one Questions call about a scene, as the grid sees it.
type questioner struct {
	rng             *rand.Rand
	objs            []Object
	occupied, empty []int
	pairs           [NumColors][NumShapes]int // objects per colour and shape
	unique          []Object                  // the objects no other shares colour and shape with
	exists, flip    int                       // Exists questions so far; the parity of their answers
}

// newQuestioner reads the scene's objects and cells, in cell order.
func newQuestioner(s Scene, rng *rand.Rand) *questioner {
	g := gridOf(s, func(Object) bool { return true })
	qs := &questioner{rng: rng}
	for cell := range NumCells {
		if !g.full[cell] {
			qs.empty = append(qs.empty, cell)
			continue
		}
		o := g.obj[cell]
		qs.objs, qs.occupied = append(qs.objs, o), append(qs.occupied, cell)
		qs.pairs[o.Color][o.Shape]++
	}
	for _, o := range qs.objs {
		if qs.pairs[o.Color][o.Shape] == 1 {
			qs.unique = append(qs.unique, o)
		}
	}
	return qs
}

// question draws a question of kind k (see Questions for the odds).
func (qs *questioner) question(k QKind) Question {
	rng, objs := qs.rng, qs.objs
	q := Question{Kind: k, Cell: NoCell, Color: NoColor, Shape: NoShape}
	switch q.Kind {
	case ColorAt, ShapeAt, SizeAt:
		if len(qs.occupied) > 0 && (len(qs.empty) == 0 || rng.IntN(4) < 3) {
			q.Cell = qs.pick(qs.occupied)
		} else {
			q.Cell = qs.pick(qs.empty)
		}
	case Exists:
		if qs.exists == 0 {
			qs.flip = rng.IntN(2)
		}
		if (qs.exists+qs.flip)%2 == 0 && len(objs) > 0 {
			o := objs[rng.IntN(len(objs))]
			q.Color, q.Shape = o.Color, o.Shape
		} else {
			q.Color, q.Shape = qs.absent()
		}
		qs.exists++
	case Where:
		if len(qs.unique) > 0 && rng.IntN(4) < 3 {
			o := qs.unique[rng.IntN(len(qs.unique))]
			q.Color, q.Shape = o.Color, o.Shape
		} else {
			q.Color, q.Shape = qs.absent()
		}
	case CountColor:
		if len(objs) > 0 && rng.IntN(4) < 3 {
			q.Color = objs[rng.IntN(len(objs))].Color
		} else {
			q.Color = Color(rng.IntN(NumColors))
		}
	}
	return q
}

// pick draws one of xs.
func (qs *questioner) pick(xs []int) int { return xs[qs.rng.IntN(len(xs))] }

// absent draws a colour and shape no object has: half the time, when there is one, a near miss
// sharing its colour or its shape with an object.
func (qs *questioner) absent() (Color, Shape) {
	rng := qs.rng
	var near, all [][2]int
	for c := range NumColors {
		for sh := range NumShapes {
			if qs.pairs[c][sh] > 0 {
				continue
			}
			all = append(all, [2]int{c, sh})
			for _, o := range qs.objs {
				if int(o.Color) == c || int(o.Shape) == sh {
					near = append(near, [2]int{c, sh})
					break
				}
			}
		}
	}
	p := all[rng.IntN(len(all))] // never empty: nine objects cannot take 32 pairs
	if len(near) > 0 && rng.IntN(2) == 0 {
		p = near[rng.IntN(len(near))]
	}
	return Color(p[0]), Shape(p[1])
}
