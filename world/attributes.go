package world

import "fmt"

// Shape is an object's shape.
type Shape int

// The shapes of the world. NoShape marks a shape a caption does not state.
const (
	NoShape Shape = -1
	Circle  Shape = iota - 1
	Square
	Triangle
	Cross
)

// NumShapes is the number of shapes.
const NumShapes = 4

// Color is an object's colour, one of a fixed palette of eight.
type Color int

// The object colours. NoColor marks a colour a caption does not state.
const (
	NoColor Color = -1
	Red     Color = iota - 1
	Green
	Blue
	Yellow
	Magenta
	Cyan
	White
	Orange
)

// NumColors is the number of object colours.
const NumColors = 8

// Size is an object's size.
type Size int

// The sizes. Small objects are about three pixels wide on a 32x32 canvas.
// NoSize marks a size a caption does not state.
const (
	NoSize Size = -1
	Small  Size = iota - 1
	Large
)

// NumSizes is the number of sizes.
const NumSizes = 2

// Background is a scene's background colour, one of a few dark colours that
// are all far from every object colour.
type Background int

// The backgrounds. NoBackground marks a background a caption does not state.
const (
	NoBackground Background = -1
	Black        Background = iota - 1
	Gray
	Navy
)

// NumBackgrounds is the number of background colours.
const NumBackgrounds = 3

// NumCells is the number of cells of the 3x3 grid. Cell i lies in row i/3 and
// column i%3, so 0 is the top-left cell and 8 the bottom-right one.
const NumCells = 9

// NoCell marks a position a caption does not state.
const NoCell = -1

// Word lists, indexed by attribute value. They are never modified.
var (
	shapeWords = [NumShapes]string{"circle", "square", "triangle", "cross"}
	colorWords = [NumColors]string{"red", "green", "blue", "yellow", "magenta", "cyan", "white", "orange"}
	sizeWords  = [NumSizes]string{"small", "large"}
	cellWords  = [NumCells]string{
		"top-left", "top", "top-right",
		"left", "center", "right",
		"bottom-left", "bottom", "bottom-right",
	}
	backgroundWords = [NumBackgrounds]string{"on-black", "on-gray", "on-navy"}

	colorRGB = [NumColors][3]float32{
		{0.92, 0.12, 0.10}, // red
		{0.15, 0.78, 0.18}, // green
		{0.18, 0.35, 1.00}, // blue
		{0.96, 0.90, 0.12}, // yellow
		{0.90, 0.15, 0.90}, // magenta
		{0.10, 0.90, 0.92}, // cyan
		{0.96, 0.96, 0.96}, // white
		{1.00, 0.55, 0.05}, // orange
	}
	backgroundRGB = [NumBackgrounds][3]float32{
		{0.02, 0.02, 0.02}, // black
		{0.12, 0.12, 0.12}, // gray
		{0.03, 0.04, 0.14}, // navy
	}
)

// Valid reports whether s is one of the world's shapes.
func (s Shape) Valid() bool { return s >= 0 && s < NumShapes }

// String returns the shape's caption word, or a placeholder when s is not valid.
func (s Shape) String() string {
	if !s.Valid() {
		return fmt.Sprintf("shape(%d)", int(s))
	}
	return shapeWords[s]
}

// Valid reports whether c is one of the world's colours.
func (c Color) Valid() bool { return c >= 0 && c < NumColors }

// String returns the colour's caption word, or a placeholder when c is not valid.
func (c Color) String() string {
	if !c.Valid() {
		return fmt.Sprintf("color(%d)", int(c))
	}
	return colorWords[c]
}

// RGB returns the colour's red, green and blue intensities in [0, 1]; an
// invalid colour is black.
func (c Color) RGB() [3]float32 {
	if !c.Valid() {
		return [3]float32{}
	}
	return colorRGB[c]
}

// Valid reports whether s is one of the world's sizes.
func (s Size) Valid() bool { return s >= 0 && s < NumSizes }

// String returns the size's caption word, or a placeholder when s is not valid.
func (s Size) String() string {
	if !s.Valid() {
		return fmt.Sprintf("size(%d)", int(s))
	}
	return sizeWords[s]
}

// Valid reports whether b is one of the world's backgrounds.
func (b Background) Valid() bool { return b >= 0 && b < NumBackgrounds }

// String returns the background's caption word, or a placeholder when b is not valid.
func (b Background) String() string {
	if !b.Valid() {
		return fmt.Sprintf("background(%d)", int(b))
	}
	return backgroundWords[b]
}

// RGB returns the background's red, green and blue intensities in [0, 1]; an
// invalid background is black.
func (b Background) RGB() [3]float32 {
	if !b.Valid() {
		return [3]float32{}
	}
	return backgroundRGB[b]
}

// ValidCell reports whether cell is a cell of the 3x3 grid.
func ValidCell(cell int) bool { return cell >= 0 && cell < NumCells }

// CellName returns the caption word of a cell, such as "top-left", or a
// placeholder when cell is not valid.
func CellName(cell int) string {
	if !ValidCell(cell) {
		return fmt.Sprintf("cell(%d)", cell)
	}
	return cellWords[cell]
}
