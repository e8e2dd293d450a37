package world

import (
	"math/rand/v2"
	"slices"
)

// Object is one shape in a scene.
type Object struct {
	Shape Shape
	Color Color
	Size  Size
	// Cell is the grid cell (0..8) that holds the object.
	Cell int
	// DX and DY offset the object's centre from its cell's centre, in pixels.
	DX, DY int
}

// Spec returns the object's attributes as a fully specified Spec.
func (o Object) Spec() Spec {
	return Spec{Size: o.Size, Color: o.Color, Shape: o.Shape, Cell: o.Cell}
}

// Scene is a background and the objects on it, ordered by cell.
type Scene struct {
	Objects    []Object
	Background Background
}

// Caption returns the scene's complete description: every object fully
// specified, in cell order, and the background.
func (s Scene) Caption() Caption {
	c := Caption{Objects: make([]Spec, len(s.Objects)), Background: s.Background}
	for i, o := range s.Objects {
		c.Objects[i] = o.Spec()
	}
	return c
}

// Sample draws a scene from the world's prior: a uniform number of objects in
// [MinObjects, MaxObjects] on distinct random cells, every attribute and the
// background uniform, jitter uniform in [-Jitter, Jitter]. The same rng state
// always gives the same scene. c must be valid (see Validate).
func (c Config) Sample(rng *rand.Rand) Scene {
	n := c.MinObjects + rng.IntN(c.MaxObjects-c.MinObjects+1)
	cells := rng.Perm(NumCells)[:n]
	slices.Sort(cells)
	s := Scene{Objects: make([]Object, n), Background: Background(rng.IntN(NumBackgrounds))}
	for i, cell := range cells {
		s.Objects[i] = Object{
			Size:  Size(rng.IntN(NumSizes)),
			Color: Color(rng.IntN(NumColors)),
			Shape: Shape(rng.IntN(NumShapes)),
			Cell:  cell,
			DX:    c.jitter(rng),
			DY:    c.jitter(rng),
		}
	}
	return s
}

// jitter draws an offset uniform in [-Jitter, Jitter].
func (c Config) jitter(rng *rand.Rand) int {
	return rng.IntN(2*c.Jitter+1) - c.Jitter
}
