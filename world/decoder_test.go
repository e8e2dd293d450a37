package world

import (
	"math"
	"reflect"
	"testing"
)

func mustDecoder(t *testing.T, cfg Config) *Decoder {
	t.Helper()
	d, err := NewDecoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestNewDecoderRejectsBadConfig(t *testing.T) {
	if _, err := NewDecoder(Config{Size: 32, MinObjects: 2, MaxObjects: 1}); err == nil {
		t.Fatal("NewDecoder accepted max objects below min objects")
	}
}

func TestDecoderDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	d := mustDecoder(t, cfg)
	ids, err := NewVocab().Encode("red and large circle top-left and square")
	if err != nil {
		t.Fatal(err)
	}
	a, b := d.Decode(ids, rngFor(5, 6)), d.Decode(ids, rngFor(5, 6))
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different images")
	}
	differ := 0
	for i := range 20 {
		if !reflect.DeepEqual(a.Pix, d.Decode(ids, rngFor(7, uint64(i))).Pix) {
			differ++
		}
	}
	if differ < 18 {
		t.Fatalf("an underspecified caption gave the same image for %d of 20 seeds", 20-differ)
	}
}

func TestOracleReconstructs(t *testing.T) {
	// Without jitter the oracle caption reconstructs the source exactly.
	still := Config{Size: 32, MinObjects: 1, MaxObjects: 4, Jitter: 0}
	d := mustDecoder(t, still)
	for i := range 100 {
		s := still.Sample(rngFor(21, uint64(i)))
		if got := d.Decode(Oracle(s), rngFor(22, uint64(i))); !reflect.DeepEqual(got.Pix, still.Render(s).Pix) {
			t.Fatalf("scene %d: oracle reconstruction differs from the source without jitter", i)
		}
	}
	// With jitter only the offsets differ, and the pixel error stays small.
	cfg := DefaultConfig()
	d = mustDecoder(t, cfg)
	var oracleErr, emptyErr float64
	for i := range 100 {
		s := cfg.Sample(rngFor(23, uint64(i)))
		c, _ := ParseCaption(Oracle(s))
		rec := d.Scene(c, rngFor(24, uint64(i)))
		if len(rec.Objects) != len(s.Objects) || rec.Background != s.Background {
			t.Fatalf("scene %d: reconstruction %+v of %+v", i, rec, s)
		}
		for j, o := range rec.Objects {
			o.DX, o.DY = s.Objects[j].DX, s.Objects[j].DY
			if o != s.Objects[j] {
				t.Fatalf("scene %d: object %+v reconstructed as %+v", i, s.Objects[j], rec.Objects[j])
			}
		}
		src := cfg.Render(s)
		oracleErr += meanAbs(src, cfg.Render(rec))
		emptyErr += meanAbs(src, d.Decode(nil, rngFor(24, uint64(i))))
	}
	oracleErr /= 100
	emptyErr /= 100
	if oracleErr > 0.03 || oracleErr > emptyErr/2 {
		t.Fatalf("oracle mean abs pixel error %.4f (empty caption %.4f)", oracleErr, emptyErr)
	}
}

func meanAbs(a, b Image) float64 {
	sum := 0.0
	for i, v := range a.Pix {
		sum += math.Abs(float64(v - b.Pix[i]))
	}
	return sum / float64(len(a.Pix))
}

func TestDecoderObjectBudget(t *testing.T) {
	cfg := DefaultConfig()
	d := mustDecoder(t, cfg)
	v := NewVocab()
	count := func(text string, seed uint64) Scene {
		ids, err := v.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := ParseCaption(ids)
		return d.Scene(c, rngFor(seed, 0))
	}
	cases := []struct {
		text string
		want int
	}{
		{"", 0},
		{"on-gray", 0},
		{"large large large large large large large large", 1},
		{"red circle and red circle and red circle and red circle and red circle", 1},
		{"red circle top-left and red circle top-left and red circle top-left", 1},
		{"red top-left and blue top-left and green top-left", 1},
		{"red and blue and green and white and cyan and orange and yellow and magenta", cfg.MaxObjects},
		{"top-left and top and top-right and left and center and right and bottom-left", cfg.MaxObjects},
		{"red circle and red circle top and red", 3},
	}
	for _, tc := range cases {
		for seed := range uint64(20) {
			s := count(tc.text, seed)
			if len(s.Objects) != tc.want {
				t.Fatalf("%q decoded to %d objects, want %d", tc.text, len(s.Objects), tc.want)
			}
			for j := 1; j < len(s.Objects); j++ {
				if s.Objects[j].Cell <= s.Objects[j-1].Cell {
					t.Fatalf("%q: two objects share a cell: %+v", tc.text, s.Objects)
				}
			}
		}
	}
	if s := count("red top-left and blue top-left", 1); s.Objects[0].Color != Red || s.Objects[0].Cell != 0 {
		t.Errorf("cell conflict: first claim must win, got %+v", s.Objects)
	}
	// Random token sequences never decode to more objects than the world
	// holds or than they describe.
	for i := range 2000 {
		r := rngFor(31, uint64(i))
		ids := make([]int, r.IntN(60))
		for j := range ids {
			ids[j] = r.IntN(v.V())
		}
		c, _ := ParseCaption(ids)
		s := d.Scene(c, r)
		if len(s.Objects) > cfg.MaxObjects || len(s.Objects) > len(c.Objects) {
			t.Fatalf("%q: %d objects from %d specs", v.Decode(ids), len(s.Objects), len(c.Objects))
		}
	}
}

func TestDecoderSamplesMissingFromPrior(t *testing.T) {
	d := mustDecoder(t, DefaultConfig())
	v := NewVocab()
	ids, err := v.Encode("red")
	if err != nil {
		t.Fatal(err)
	}
	shapes, sizes, cells, bgs := map[Shape]int{}, map[Size]int{}, map[int]int{}, map[Background]int{}
	const n = 900
	for i := range n {
		c, _ := ParseCaption(ids)
		s := d.Scene(c, rngFor(41, uint64(i)))
		o := s.Objects[0]
		if o.Color != Red {
			t.Fatalf("stated colour not kept: %+v", o)
		}
		shapes[o.Shape]++
		sizes[o.Size]++
		cells[o.Cell]++
		bgs[s.Background]++
	}
	check := func(name string, counts, k int) {
		if want := n / k; counts < want*2/3 || counts > want*4/3 {
			t.Errorf("%s drawn %d times of %d, want about %d (uniform prior)", name, counts, n, want)
		}
	}
	for sh := range Shape(NumShapes) {
		check(sh.String(), shapes[sh], NumShapes)
	}
	for sz := range Size(NumSizes) {
		check(sz.String(), sizes[sz], NumSizes)
	}
	for c := range NumCells {
		check(CellName(c), cells[c], NumCells)
	}
	for b := range Background(NumBackgrounds) {
		check(b.String(), bgs[b], NumBackgrounds)
	}
	img := d.DecodeSpecs([]Spec{{Size: Large, Color: Blue, Shape: Square, Cell: 4}}, rngFor(1, 1))
	if img.H != 32 || img.At(2, 16, 16) < 0.9 {
		t.Errorf("DecodeSpecs did not draw a blue square in the centre")
	}
}

// With LeaveOut only objects stated in full are drawn: the partly stated ones are left out (and
// claim no cell), the full ones are drawn exactly as with FromPrior under the same stream, and the
// background is still drawn from the prior when unstated.
func TestDecoderLeaveOutDrawsOnlyFullObjects(t *testing.T) {
	prior := mustDecoder(t, DefaultConfig())
	omit := prior.WithUnstated(LeaveOut)
	full := Spec{Size: Large, Color: Blue, Shape: Square, Cell: 4}
	noCell := Spec{Size: Small, Color: Red, Shape: Circle, Cell: NoCell}
	noColor := Spec{Size: Small, Color: NoColor, Shape: Triangle, Cell: 0}
	bgs := map[Background]int{}
	for i := range 200 {
		c := Caption{Objects: []Spec{noCell, full, noColor}, Background: NoBackground}
		s := omit.Scene(c, rngFor(43, uint64(i)))
		if len(s.Objects) != 1 || s.Objects[0].Size != Large || s.Objects[0].Color != Blue || s.Objects[0].Shape != Square || s.Objects[0].Cell != 4 {
			t.Fatalf("LeaveOut drew %+v from %+v, want only the fully stated object", s.Objects, c.Objects)
		}
		bgs[s.Background]++
		// The same caption without its partial specs decodes the same under either mode.
		only := Caption{Objects: []Spec{full}, Background: NoBackground}
		if a, b := omit.Scene(only, rngFor(44, uint64(i))), prior.Scene(only, rngFor(44, uint64(i))); !reflect.DeepEqual(a, b) {
			t.Fatalf("a fully stated caption decodes differently: %+v vs %+v", a, b)
		}
	}
	if len(bgs) < NumBackgrounds {
		t.Errorf("LeaveOut drew %d of %d backgrounds for captions without one: the background keeps its prior", len(bgs), NumBackgrounds)
	}
	if s := omit.Scene(Caption{Objects: []Spec{noCell}, Background: NoBackground}, rngFor(1, 1)); len(s.Objects) != 0 {
		t.Errorf("LeaveOut drew %+v for a caption with no full object", s.Objects)
	}
	if s := prior.Scene(Caption{Objects: []Spec{noCell}, Background: NoBackground}, rngFor(1, 1)); len(s.Objects) != 1 {
		t.Errorf("FromPrior drew %d objects for one partly stated object, want 1", len(s.Objects))
	}
	for _, name := range []string{"prior", "omit"} {
		if u, err := ParseUnstated(name); err != nil || u.String() != name {
			t.Errorf("ParseUnstated(%q) = %v, %v", name, u, err)
		}
	}
	if _, err := ParseUnstated("zero"); err == nil {
		t.Error("ParseUnstated accepted an unknown name")
	}
}
