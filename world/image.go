package world

import "github.com/unigrpo/unigrpo/images"

// Image is the world's image: a float image in channel-major (CHW) layout with values in [0, 1]
// (images.Planar, which policies and rewards take whatever the images came from).
type Image = images.Planar

// NewImage returns a black image of the given shape.
func NewImage(c, h, w int) Image { return images.NewPlanar(c, h, w) }

// FromRGB8 returns the w x h image of 8-bit RGB pixels rgb (row-major, three bytes a pixel),
// each value scaled to [0, 1].
func FromRGB8(w, h int, rgb []uint8) Image { return images.FromRGB8(w, h, rgb) }
