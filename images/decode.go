package images

import (
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // decoders registered for image.Decode
	_ "image/png"
	"io"
	"os"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"
)

// Square is an 8-bit RGB image of Size x Size pixels, row-major, three bytes a pixel.
type Square struct {
	Size int
	RGB  []uint8 // [Size*Size*3]
}

// At returns the pixel at column x and row y.
func (s Square) At(x, y int) (r, g, b uint8) {
	i := 3 * (y*s.Size + x)
	return s.RGB[i], s.RGB[i+1], s.RGB[i+2]
}

// DefaultMaxPixels is the pixel budget of one decoded image unless a command's
// --max-image-pixels says otherwise: 40 megapixels, about 160 MB decoded, well above any camera
// photo a captioner is fed and far below what a header can claim (a 68-byte PNG may claim
// 100000 x 100000 pixels, 40 GB decoded).
const DefaultMaxPixels = 40_000_000

// Load decodes a PNG, JPEG or WebP file within DefaultMaxPixels and fits it to size x size pixels
// (LoadWithin).
func Load(path string, size int) (Square, error) { return LoadWithin(path, size, DefaultMaxPixels) }

// LoadWithin decodes a PNG, JPEG or WebP file and fits it to size x size pixels (Fit). Pixel
// values are taken as 8-bit sRGB: embedded colour profiles are not applied, 16-bit channels are
// rounded to 8 bits and transparency is dropped (the colour under it is kept), as PIL's
// convert("RGB") does. A file that cannot be decoded, or whose header claims more than maxPixels
// pixels (0: DefaultMaxPixels), is an error naming it; nothing is decoded past the header then.
func LoadWithin(path string, size, maxPixels int) (Square, error) {
	f, err := os.Open(path)
	if err != nil {
		return Square{}, fmt.Errorf("images: %w", err)
	}
	defer f.Close()
	img, format, err := Decode(f, path, maxPixels)
	if err != nil {
		return Square{}, err
	}
	b := img.Bounds()
	if b.Dx() < 1 || b.Dy() < 1 {
		return Square{}, fmt.Errorf("images: %s (%s) has no pixels", path, format)
	}
	return Fit(img, size), nil
}

// Decode decodes a PNG, JPEG or WebP image from r after reading its header: an image whose
// header claims more than maxPixels pixels (0: DefaultMaxPixels) is refused before any pixel
// memory is taken. name names the image in errors.
func Decode(r io.ReadSeeker, name string, maxPixels int) (image.Image, string, error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	cfg, format, err := image.DecodeConfig(r)
	if err != nil {
		return nil, "", fmt.Errorf("images: %s is not a readable PNG, JPEG or WebP image: %v", name, err)
	}
	if err := CheckPixels(name, cfg.Width, cfg.Height, maxPixels); err != nil {
		return nil, "", err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, "", fmt.Errorf("images: rereading %s: %w", name, err)
	}
	img, format, err := image.Decode(r)
	if err != nil {
		return nil, "", fmt.Errorf("images: %s is not a readable PNG, JPEG or WebP image: %v", name, err)
	}
	return img, format, nil
}

// CheckPixels refuses an image of w x h pixels that are negative or more than maxPixels in all,
// computing the product without overflow.
func CheckPixels(name string, w, h, maxPixels int) error {
	if w < 0 || h < 0 {
		return fmt.Errorf("images: %s claims %d x %d pixels", name, w, h)
	}
	if w > 0 && h > maxPixels/w {
		return fmt.Errorf("images: %s is %d x %d pixels (%.1f megapixels), over the budget of %.1f megapixels "+
			"(--max-image-pixels raises it; decoding it would take about %.1f GB)",
			name, w, h, float64(w)*float64(h)/1e6, float64(maxPixels)/1e6, 4*float64(w)*float64(h)/1e9)
	}
	return nil
}

// Fit scales img so that its shorter side is size pixels (Catmull-Rom) and keeps the centred
// size x size square: the "resize the shortest edge, then centre-crop" of CLIP-style image
// processors, done as one resampling of the centred square of the source.
func Fit(img image.Image, size int) Square {
	b := img.Bounds()
	side := min(b.Dx(), b.Dy())
	x0 := b.Min.X + (b.Dx()-side)/2
	y0 := b.Min.Y + (b.Dy()-side)/2
	src := image.NewNRGBA(image.Rect(0, 0, side, side))
	for y := range side {
		for x := range side {
			c := color.NRGBAModel.Convert(img.At(x0+x, y0+y)).(color.NRGBA)
			c.A = 255 // transparency dropped, the colour under it kept
			src.SetNRGBA(x, y, c)
		}
	}
	dst := image.NewNRGBA(image.Rect(0, 0, size, size))
	if side == size {
		copy(dst.Pix, src.Pix)
	} else {
		draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	}
	out := Square{Size: size, RGB: make([]uint8, 3*size*size)}
	for i := range size * size {
		copy(out.RGB[3*i:3*i+3], dst.Pix[4*i:4*i+3])
	}
	return out
}

// RGB8 returns the 8-bit RGB pixels of a decoded image (row-major, three bytes a pixel) and its
// size: transparency dropped and the colour under it kept, as Load does.
func RGB8(img image.Image) (w, h int, rgb []uint8) {
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	rgb = make([]uint8, 0, 3*w*h)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			rgb = append(rgb, c.R, c.G, c.B)
		}
	}
	return w, h, rgb
}
