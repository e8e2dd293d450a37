package world

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/images"
)

func rngFor(a, b uint64) *rand.Rand { return rand.New(rand.NewPCG(a, b)) }

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	bad := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"tiny canvas", func(c *Config) { c.Size = 8 }, "world size 8"},
		{"huge canvas", func(c *Config) { c.Size = 5000 }, "world size 5000"},
		{"no objects", func(c *Config) { c.MinObjects = 0 }, "min objects 0"},
		{"max below min", func(c *Config) { c.MinObjects, c.MaxObjects = 3, 2 }, "max objects 2"},
		{"too many objects", func(c *Config) { c.MaxObjects = 10 }, "max objects 10"},
		{"negative jitter", func(c *Config) { c.Jitter = -1 }, "jitter -1"},
		{"jitter leaves cell", func(c *Config) { c.Jitter = 3 }, "use at most 1"},
	}
	for _, tc := range bad {
		c := DefaultConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestSampleReproducible(t *testing.T) {
	cfg := DefaultConfig()
	a, b := cfg.Sample(rngFor(1, 2)), cfg.Sample(rngFor(1, 2))
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different scenes:\n%+v\n%+v", a, b)
	}
	if !reflect.DeepEqual(cfg.Render(a).Pix, cfg.Render(b).Pix) {
		t.Fatal("same scene rendered differently")
	}
	differ := 0
	for i := range 20 {
		if !reflect.DeepEqual(a, cfg.Sample(rngFor(3, uint64(i)))) {
			differ++
		}
	}
	if differ < 19 {
		t.Fatalf("only %d of 20 other seeds gave a different scene", differ)
	}
}

func TestSampleBounds(t *testing.T) {
	for _, cfg := range []Config{DefaultConfig(), {Size: 48, MinObjects: 2, MaxObjects: 9, Jitter: 2}} {
		seen := map[int]bool{}
		for i := range 500 {
			s := cfg.Sample(rngFor(7, uint64(i)))
			n := len(s.Objects)
			if n < cfg.MinObjects || n > cfg.MaxObjects {
				t.Fatalf("%+v: scene %d has %d objects", cfg, i, n)
			}
			seen[n] = true
			if !s.Background.Valid() {
				t.Fatalf("invalid background %d", s.Background)
			}
			for j, o := range s.Objects {
				if j > 0 && o.Cell <= s.Objects[j-1].Cell {
					t.Fatalf("scene %d: cells not strictly increasing (two objects in a cell?): %+v", i, s.Objects)
				}
				if !o.Shape.Valid() || !o.Color.Valid() || !o.Size.Valid() || !ValidCell(o.Cell) {
					t.Fatalf("scene %d: invalid object %+v", i, o)
				}
				if abs(o.DX) > cfg.Jitter || abs(o.DY) > cfg.Jitter {
					t.Fatalf("scene %d: jitter beyond %d: %+v", i, cfg.Jitter, o)
				}
			}
		}
		if len(seen) != cfg.MaxObjects-cfg.MinObjects+1 {
			t.Errorf("%+v: object counts seen %v, want every count in range", cfg, seen)
		}
	}
}

func abs(x int) int { return max(x, -x) }

// footprint returns the number of pixels that differ from the background and
// their bounding box width and height.
func footprint(im Image, bg Background) (n, w, h int) {
	rgb := bg.RGB()
	x0, y0, x1, y1 := im.W, im.H, -1, -1
	for y := range im.H {
		for x := range im.W {
			for ch := range 3 {
				if d := im.At(ch, y, x) - rgb[ch]; d > 0.05 || d < -0.05 {
					n++
					x0, x1 = min(x0, x), max(x1, x)
					y0, y1 = min(y0, y), max(y1, y)
					break
				}
			}
		}
	}
	return n, x1 - x0 + 1, y1 - y0 + 1
}

func TestObjectSizesInPixels(t *testing.T) {
	cfg := DefaultConfig()
	for shape := range Shape(NumShapes) {
		for _, size := range []Size{Small, Large} {
			s := Scene{Background: Gray, Objects: []Object{{Shape: shape, Color: Yellow, Size: size, Cell: 4}}}
			n, w, h := footprint(cfg.Render(s), Gray)
			switch size {
			case Small:
				if n == 0 || n > 16 || w > 4 || h > 4 {
					t.Errorf("small %v covers %d pixels in a %dx%d box; want a few pixels at most 4 wide", shape, n, w, h)
				}
			case Large:
				if n < 25 || w < 7 || h < 7 || w > 10 || h > 10 {
					t.Errorf("large %v covers %d pixels in a %dx%d box; want about 8x8", shape, n, w, h)
				}
			}
		}
	}
}

func TestObjectsStayInTheirCells(t *testing.T) {
	for _, size := range []int{12, 24, 32, 33, 64} {
		cfg := Config{Size: size, MinObjects: 1, MaxObjects: 1}
		cfg.Jitter = cfg.MaxJitter()
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		for cell := range NumCells {
			for _, j := range [][2]int{{-1, -1}, {1, 1}, {-1, 1}, {1, -1}} {
				o := Object{Shape: Circle, Color: White, Size: Large, Cell: cell, DX: j[0] * cfg.Jitter, DY: j[1] * cfg.Jitter}
				im := cfg.Render(Scene{Background: Black, Objects: []Object{o}})
				for y := range im.H {
					for x := range im.W {
						// A pixel belongs to the cell holding its centre.
						if im.At(0, y, x) > 0.05 && (min((2*x+1)*3/(2*size), 2)+3*min((2*y+1)*3/(2*size), 2)) != cell {
							t.Fatalf("size %d: object in cell %d paints pixel (%d,%d) of another cell", size, cell, x, y)
						}
					}
				}
			}
		}
	}
}

func TestRenderRange(t *testing.T) {
	cfg := DefaultConfig()
	for i := range 50 {
		im := cfg.Render(cfg.Sample(rngFor(9, uint64(i))))
		if im.C != 3 || im.H != cfg.Size || im.W != cfg.Size || len(im.Pix) != 3*cfg.Size*cfg.Size {
			t.Fatalf("bad image shape %dx%dx%d (%d values)", im.C, im.H, im.W, len(im.Pix))
		}
		for _, v := range im.Pix {
			if v < 0 || v > 1 {
				t.Fatalf("pixel value %v outside [0,1]", v)
			}
		}
	}
}

func TestToRGBA(t *testing.T) {
	cfg := DefaultConfig()
	s := Scene{Background: Black, Objects: []Object{{Shape: Square, Color: Red, Size: Large, Cell: 0}}}
	im := cfg.Render(s)
	rgba := im.ToRGBA(3)
	if b := rgba.Bounds(); b.Dx() != 96 || b.Dy() != 96 {
		t.Fatalf("bounds %v, want 96x96", b)
	}
	cx, cy := cfg.cellCentre(0)
	got := rgba.RGBAAt(int(cx)*3+1, int(cy)*3+2)
	want := Red.RGB()
	if got.R != images.To8(want[0]) || got.G != images.To8(want[1]) || got.B != images.To8(want[2]) || got.A != 255 {
		t.Fatalf("centre of a red square is %+v", got)
	}
	if (Image{C: 3, H: 2, W: 2, Pix: make([]float32, 5)}).ToRGBA(2).Bounds().Dx() != 0 {
		t.Fatal("malformed image did not give an empty picture")
	}
}
