package world

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// Decoder is the world's frozen text-to-image model: it renders the scene a
// caption describes, sampling every detail the caption leaves out from the
// world's prior, as a real generator hallucinates missing detail. A Decoder is
// read-only and safe for concurrent use (each call needs its own rng).
//
// It cannot be inflated by degenerate captions: it draws at most MaxObjects
// objects and never more than the caption describes; identical specs collapse
// into one; a spec asking for a cell that an earlier spec already claimed is
// dropped.
type Decoder struct {
	cfg      Config
	unstated Unstated
}

// Unstated is how a Decoder treats an object whose caption leaves some of its size, colour, shape
// or cell unstated.
type Unstated int

const (
	// FromPrior draws the missing attributes from the world's prior, uniformly, as a generator
	// hallucinates missing detail (the default).
	FromPrior Unstated = iota
	// LeaveOut leaves such an object out of the picture: only objects stated in full are drawn.
	LeaveOut
)

// ParseUnstated reads an Unstated by name: "prior" (FromPrior) or "omit" (LeaveOut).
func ParseUnstated(name string) (Unstated, error) {
	switch name {
	case "prior", "":
		return FromPrior, nil
	case "omit":
		return LeaveOut, nil
	}
	return 0, fmt.Errorf("unstated attributes %q: use prior (drawn at random) or omit (the object left out)", name)
}

// String returns the name ParseUnstated reads.
func (u Unstated) String() string {
	if u == LeaveOut {
		return "omit"
	}
	return "prior"
}

// NewDecoder returns the decoder of a world.
func NewDecoder(cfg Config) (*Decoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new decoder: %w", err)
	}
	return &Decoder{cfg: cfg}, nil
}

// WithUnstated returns a decoder of the same world that treats partly stated objects as u says.
func (d *Decoder) WithUnstated(u Unstated) *Decoder {
	return &Decoder{cfg: d.cfg, unstated: u}
}

// Config returns the world the decoder draws.
func (d *Decoder) Config() Config { return d.cfg }

// Decode parses a token sequence (see ParseCaption) and renders it.
func (d *Decoder) Decode(ids []int, rng *rand.Rand) Image {
	c, _ := ParseCaption(ids)
	return d.cfg.Render(d.Scene(c, rng))
}

// DecodeCaption renders a parsed caption.
func (d *Decoder) DecodeCaption(c Caption, rng *rand.Rand) Image {
	return d.cfg.Render(d.Scene(c, rng))
}

// DecodeSpecs renders object specs on a background sampled from the prior.
func (d *Decoder) DecodeSpecs(specs []Spec, rng *rand.Rand) Image {
	return d.cfg.Render(d.Scene(Caption{Objects: specs, Background: NoBackground}, rng))
}

// Scene returns the scene the decoder imagines for a caption:
//
//  1. The background is the stated one, or drawn from the prior.
//  2. Specs are taken in caption order; a spec is skipped if it states
//     nothing, repeats an earlier kept spec exactly, or states a cell an
//     earlier kept spec stated, or (with LeaveOut) it leaves an attribute
//     unstated. Taking stops at MaxObjects specs.
//  3. Each kept spec gets its missing size, colour and shape drawn uniformly
//     and a random jitter; specs without a cell get distinct random cells among
//     those no kept spec stated.
//
// The number of random draws depends only on the number of kept specs and how
// many of them lack a cell, so two captions that differ in one stated
// attribute decode, under equal rng states, to scenes that differ only there.
func (d *Decoder) Scene(c Caption, rng *rand.Rand) Scene {
	bg := Background(rng.IntN(NumBackgrounds))
	if c.Background.Valid() {
		bg = c.Background
	}
	kept := make([]Spec, 0, d.cfg.MaxObjects)
	var claimed [NumCells]bool
	for _, s := range c.Objects {
		if len(kept) == d.cfg.MaxObjects {
			break
		}
		s = s.normalized()
		if s.Stated() == 0 || (d.unstated == LeaveOut && s.Stated() < 4) || slices.Contains(kept, s) || (s.Cell != NoCell && claimed[s.Cell]) {
			continue
		}
		if s.Cell != NoCell {
			claimed[s.Cell] = true
		}
		kept = append(kept, s)
	}
	scene := Scene{Objects: make([]Object, len(kept)), Background: bg}
	for i, s := range kept {
		o := Object{
			Size:  Size(rng.IntN(NumSizes)),
			Color: Color(rng.IntN(NumColors)),
			Shape: Shape(rng.IntN(NumShapes)),
			Cell:  s.Cell,
			DX:    d.cfg.jitter(rng),
			DY:    d.cfg.jitter(rng),
		}
		if s.Size != NoSize {
			o.Size = s.Size
		}
		if s.Color != NoColor {
			o.Color = s.Color
		}
		if s.Shape != NoShape {
			o.Shape = s.Shape
		}
		scene.Objects[i] = o
	}
	free := make([]int, 0, NumCells)
	for cell, taken := range claimed {
		if !taken {
			free = append(free, cell)
		}
	}
	for i := range scene.Objects {
		if scene.Objects[i].Cell != NoCell {
			continue
		}
		j := rng.IntN(len(free))
		scene.Objects[i].Cell = free[j]
		free = slices.Delete(free, j, j+1)
	}
	slices.SortFunc(scene.Objects, func(a, b Object) int { return a.Cell - b.Cell })
	return scene
}
