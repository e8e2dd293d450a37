// Package world is the synthetic world that makes Unified-GRPO runnable without
// downloads: seeded scenes of simple shapes, the caption language that describes
// them, a frozen "text-to-image" decoder that renders a caption (sampling every
// detail the caption leaves out from the world's prior), and metrics that score
// how well a caption understands its scene.
//
// A scene is a square RGB canvas (32x32 by default) divided into a 3x3 grid of
// cells. Each cell holds at most one object; an object has a shape (circle,
// square, triangle, cross), one of eight colours, one of two sizes (small objects
// are only about three pixels wide, deliberately hard to see) and a small jitter
// of its centre inside the cell. The background is one of three dark colours.
//
// Captions are token sequences over a fixed vocabulary. Each object is a phrase
// of attribute words in the order size, colour, shape, position, phrases are
// joined by the separator "and", and the background is a single word such as
// "on-gray", written last:
//
//	small red circle top-left and large blue square center on-gray
package world
