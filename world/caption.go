package world

// Spec describes one object as a caption states it. Each attribute may be
// unknown: NoSize, NoColor, NoShape, NoCell.
type Spec struct {
	Size  Size
	Color Color
	Shape Shape
	Cell  int
}

// EmptySpec returns a Spec that states nothing.
func EmptySpec() Spec {
	return Spec{Size: NoSize, Color: NoColor, Shape: NoShape, Cell: NoCell}
}

// Stated returns how many of the four attributes the spec states.
func (s Spec) Stated() int {
	n := 0
	for _, ok := range [...]bool{s.Size.Valid(), s.Color.Valid(), s.Shape.Valid(), ValidCell(s.Cell)} {
		if ok {
			n++
		}
	}
	return n
}

// normalized returns the spec with every out-of-range attribute made unknown.
func (s Spec) normalized() Spec {
	if !s.Size.Valid() {
		s.Size = NoSize
	}
	if !s.Color.Valid() {
		s.Color = NoColor
	}
	if !s.Shape.Valid() {
		s.Shape = NoShape
	}
	if !ValidCell(s.Cell) {
		s.Cell = NoCell
	}
	return s
}

// Caption is what a token sequence says about a scene: object specs in the
// order they were written and, optionally, the background.
type Caption struct {
	Objects    []Spec
	Background Background
}

// Tokens writes the caption as token ids, without BOS or EOS: one phrase per
// object (attributes in the order size, colour, shape, position; unknown ones
// left out) joined by Sep, then the background word if it is known. Specs that
// state nothing are skipped. ParseCaption(c.Tokens()) gives c back, apart
// from skipped specs, with nothing unparsed.
func (c Caption) Tokens() []int {
	var ids []int
	for _, s := range c.Objects {
		s = s.normalized()
		if s.Stated() == 0 {
			continue
		}
		if len(ids) > 0 {
			ids = append(ids, Sep)
		}
		if s.Size != NoSize {
			ids = append(ids, firstSize+int(s.Size))
		}
		if s.Color != NoColor {
			ids = append(ids, firstColor+int(s.Color))
		}
		if s.Shape != NoShape {
			ids = append(ids, firstShape+int(s.Shape))
		}
		if s.Cell != NoCell {
			ids = append(ids, firstCell+s.Cell)
		}
	}
	if c.Background.Valid() {
		ids = append(ids, firstBackground+int(c.Background))
	}
	return ids
}

// Oracle returns the scene's complete caption as token ids (no BOS or EOS):
// every object fully described, in cell order, then the background.
func Oracle(s Scene) []int { return s.Caption().Tokens() }
