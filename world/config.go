package world

import (
	"errors"
	"fmt"
)

// Config describes a world: the canvas size, how many objects a scene holds and
// how far objects wander from their cell centres.
type Config struct {
	// Size is the canvas height and width in pixels.
	Size int
	// MinObjects and MaxObjects bound the number of objects in a scene (1..9).
	MinObjects, MaxObjects int
	// Jitter is the largest offset, in pixels along each axis, of an object's
	// centre from its cell's centre. Objects never overlap neighbouring cells.
	Jitter int
}

// DefaultConfig returns the world the project uses: a 32x32 canvas, one to
// four objects and one pixel of jitter.
func DefaultConfig() Config {
	return Config{Size: 32, MinObjects: 1, MaxObjects: 4, Jitter: 1}
}

// Limits on Config.Size.
const (
	MinSize = 12
	MaxSize = 1024
)

// Validate reports whether the configuration describes a world that can be
// sampled and rendered, naming the first problem it finds.
func (c Config) Validate() error {
	var errs []error
	if c.Size < MinSize || c.Size > MaxSize {
		errs = append(errs, fmt.Errorf("world size %d is out of range: use %d..%d pixels", c.Size, MinSize, MaxSize))
	}
	if c.MinObjects < 1 || c.MinObjects > NumCells {
		errs = append(errs, fmt.Errorf("min objects %d is out of range: use 1..%d", c.MinObjects, NumCells))
	}
	if c.MaxObjects < c.MinObjects || c.MaxObjects > NumCells {
		errs = append(errs, fmt.Errorf("max objects %d is out of range: use min objects (%d)..%d", c.MaxObjects, c.MinObjects, NumCells))
	}
	if c.Jitter < 0 {
		errs = append(errs, fmt.Errorf("jitter %d is negative: use 0 or more pixels", c.Jitter))
	} else if c.Size >= MinSize && c.Size <= MaxSize && c.Jitter > c.MaxJitter() {
		errs = append(errs, fmt.Errorf("jitter %d pixels lets large objects leave their cell on a %dx%d canvas: use at most %d", c.Jitter, c.Size, c.Size, c.MaxJitter()))
	}
	return errors.Join(errs...)
}

// MaxJitter returns the largest jitter that keeps every object inside its cell.
func (c Config) MaxJitter() int {
	j := int(c.cell()/2 - c.radius(Large))
	if j < 0 {
		return 0
	}
	return j
}

// cell returns the width of a grid cell in pixels.
func (c Config) cell() float64 { return float64(c.Size) / 3 }

// radius returns the half-width of an object of size s in pixels: about 3.8
// pixels for large objects and 1.5 for small ones on a 32x32 canvas.
func (c Config) radius(s Size) float64 {
	if s == Small {
		return max(1, 0.14*c.cell())
	}
	return 0.36 * c.cell()
}

// cellCentre returns the pixel coordinates (x, y) of a cell's centre.
func (c Config) cellCentre(cell int) (x, y float64) {
	w := c.cell()
	return (float64(cell%3) + 0.5) * w, (float64(cell/3) + 0.5) * w
}
