package world

import (
	"reflect"
	"strings"
	"testing"
)

func TestVocab(t *testing.T) {
	v := NewVocab()
	if v.V() != 4+NumSizes+NumColors+NumShapes+NumCells+NumBackgrounds {
		t.Fatalf("V() = %d", v.V())
	}
	for id, w := range map[int]string{PAD: "<pad>", BOS: "<bos>", EOS: "<eos>", Sep: "and"} {
		if v.Word(id) != w {
			t.Errorf("Word(%d) = %q, want %q", id, v.Word(id), w)
		}
	}
	seen := map[string]bool{}
	for id := range v.V() {
		w := v.Word(id)
		if seen[w] {
			t.Fatalf("word %q appears twice", w)
		}
		seen[w] = true
		if got, ok := v.ID(w); !ok || got != id {
			t.Fatalf("ID(%q) = %d, %v; want %d", w, got, ok, id)
		}
	}
	if v.Word(-1) != "<unk:-1>" || v.Word(v.V()) != "<unk:30>" {
		t.Errorf("out-of-range words: %q %q", v.Word(-1), v.Word(v.V()))
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	v := NewVocab()
	text := "<bos> small red circle top-left and large blue square center on-gray <eos>"
	ids, err := v.Encode(text)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Decode(ids); got != text {
		t.Fatalf("Decode(Encode(x)) = %q, want %q", got, text)
	}
	all := make([]int, v.V())
	for i := range all {
		all[i] = i
	}
	back, err := v.Encode(v.Decode(all))
	if err != nil || !reflect.DeepEqual(back, all) {
		t.Fatalf("Encode(Decode(all ids)) = %v, %v", back, err)
	}
	if _, err := v.Encode("small purple circle"); err == nil || !strings.Contains(err.Error(), `"purple" at position 1`) {
		t.Fatalf("unknown word error = %v", err)
	}
	if got := v.Decode([]int{4, 99}); got != "small <unk:99>" {
		t.Fatalf("Decode with bad id = %q", got)
	}
}

func TestOracleParsesBack(t *testing.T) {
	cfg := Config{Size: 32, MinObjects: 1, MaxObjects: 9, Jitter: 1}
	v := NewVocab()
	for i := range 300 {
		s := cfg.Sample(rngFor(11, uint64(i)))
		ids := Oracle(s)
		c, unparsed := ParseCaption(ids)
		if unparsed != 0 || !reflect.DeepEqual(c, s.Caption()) {
			t.Fatalf("scene %d: oracle %q parsed to %+v (%d unparsed), want %+v", i, v.Decode(ids), c, unparsed, s.Caption())
		}
		if len(ids) != 4*len(s.Objects)+len(s.Objects)-1+1 {
			t.Fatalf("oracle length %d for %d objects", len(ids), len(s.Objects))
		}
		// With BOS and EOS, and padding after EOS, nothing changes.
		wrapped := append(append([]int{BOS}, ids...), EOS, PAD, PAD)
		if c2, u2 := ParseCaption(wrapped); u2 != 0 || !reflect.DeepEqual(c2, c) {
			t.Fatalf("scene %d: wrapped oracle parsed to %+v (%d unparsed)", i, c2, u2)
		}
	}
	first := Oracle(Scene{Background: Navy, Objects: []Object{{Shape: Triangle, Color: Orange, Size: Small, Cell: 8}}})
	if got := v.Decode(first); got != "small orange triangle bottom-right on-navy" {
		t.Fatalf("oracle = %q", got)
	}
}

func TestParse(t *testing.T) {
	v := NewVocab()
	sp := func(size Size, c Color, sh Shape, cell int) Spec {
		return Spec{Size: size, Color: c, Shape: sh, Cell: cell}
	}
	cases := []struct {
		text     string
		want     []Spec
		bg       Background
		unparsed int
	}{
		{"", nil, NoBackground, 0},
		{"red", []Spec{sp(NoSize, Red, NoShape, NoCell)}, NoBackground, 0},
		{"top-left", []Spec{sp(NoSize, NoColor, NoShape, 0)}, NoBackground, 0},
		{"center red small cross", []Spec{sp(Small, Red, Cross, 4)}, NoBackground, 0},
		{"large large large large", []Spec{sp(Large, NoColor, NoShape, NoCell)}, NoBackground, 3},
		{"red blue circle", []Spec{sp(NoSize, Red, Circle, NoCell)}, NoBackground, 1},
		{"red and and blue and", []Spec{sp(NoSize, Red, NoShape, NoCell), sp(NoSize, Blue, NoShape, NoCell)}, NoBackground, 1},
		{"and red", []Spec{sp(NoSize, Red, NoShape, NoCell)}, NoBackground, 1},
		{"on-gray and red", []Spec{sp(NoSize, Red, NoShape, NoCell)}, Gray, 0},
		{"red on-gray circle on-black", []Spec{sp(NoSize, Red, Circle, NoCell)}, Gray, 1},
		{"<bos> red <bos> circle <pad>", []Spec{sp(NoSize, Red, Circle, NoCell)}, NoBackground, 2},
		{"red <eos> blue <pad> <eos> <pad>", []Spec{sp(NoSize, Red, NoShape, NoCell)}, NoBackground, 2},
		{"<eos> red", nil, NoBackground, 1},
		{"red circle and red circle", []Spec{sp(NoSize, Red, Circle, NoCell), sp(NoSize, Red, Circle, NoCell)}, NoBackground, 0},
	}
	for _, tc := range cases {
		ids, err := v.Encode(tc.text)
		if err != nil {
			t.Fatal(err)
		}
		c, unparsed := ParseCaption(ids)
		if !reflect.DeepEqual(c.Objects, tc.want) || c.Background != tc.bg || unparsed != tc.unparsed {
			t.Errorf("ParseCaption(%q) = %+v bg %v, %d unparsed; want %+v bg %v, %d", tc.text, c.Objects, c.Background, unparsed, tc.want, tc.bg, tc.unparsed)
		}
		specs, u := Parse(ids)
		if !reflect.DeepEqual(specs, c.Objects) || u != unparsed {
			t.Errorf("Parse(%q) disagrees with ParseCaption", tc.text)
		}
	}
	if specs, u := Parse([]int{-5, 1000, 7}); len(specs) != 1 || u != 2 {
		t.Errorf("out-of-range ids: %+v, %d unparsed", specs, u)
	}
}

// FuzzParse checks that any token sequence parses without panicking into
// valid specs, that nothing is lost or double-counted, and that writing the
// parse back out and parsing again is a fixed point.
func FuzzParse(f *testing.F) {
	v := NewVocab()
	for _, text := range []string{
		"",
		"small red circle top-left and large blue square center on-gray",
		"large large large large large large",
		"and and <bos> <pad> <eos> red",
		"red circle and red circle and red circle",
		"top-left top on-black on-navy cross triangle",
	} {
		ids, err := v.Encode(text)
		if err != nil {
			f.Fatal(err)
		}
		b := make([]byte, len(ids))
		for i, id := range ids {
			b[i] = byte(id + 8)
		}
		f.Add(b)
	}
	f.Add([]byte{0, 1, 2, 255, 37, 38, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		ids := make([]int, len(b))
		for i, x := range b {
			ids[i] = int(x) - 8 // negative and out-of-range ids too
		}
		c, unparsed := ParseCaption(ids)
		if unparsed < 0 || unparsed > len(ids) {
			t.Fatalf("unparsed %d of %d tokens", unparsed, len(ids))
		}
		stated := 0
		for _, s := range c.Objects {
			if s.Stated() == 0 || s != s.normalized() {
				t.Fatalf("invalid spec %+v", s)
			}
			stated += s.Stated()
		}
		if c.Background != NoBackground && !c.Background.Valid() {
			t.Fatalf("invalid background %d", c.Background)
		}
		if c.Background.Valid() {
			stated++
		}
		if stated+unparsed > len(ids) {
			t.Fatalf("%d attributes + %d unparsed from %d tokens", stated, unparsed, len(ids))
		}
		again, u2 := ParseCaption(c.Tokens())
		if u2 != 0 || !reflect.DeepEqual(again, c) {
			t.Fatalf("reparse of %v: %+v (%d unparsed), want %+v", c.Tokens(), again, u2, c)
		}
	})
}

func TestPartial(t *testing.T) {
	cfg := Config{Size: 32, MinObjects: 3, MaxObjects: 4, Jitter: 1}
	opt := DefaultPartialOptions()
	if err := opt.Validate(); err != nil {
		t.Fatal(err)
	}
	var objects, stops, sizes, colors, shapes, cells, bgs int
	for i := range 2000 {
		s := cfg.Sample(rngFor(13, uint64(i)))
		ids := Partial(s, opt, rngFor(14, uint64(i)))
		if again := Partial(s, opt, rngFor(14, uint64(i))); !reflect.DeepEqual(ids, again) {
			t.Fatal("Partial not deterministic for a seed")
		}
		c, unparsed := ParseCaption(ids)
		if unparsed != 0 || len(c.Objects) == 0 || len(c.Objects) > len(s.Objects) {
			t.Fatalf("partial caption %v: %d objects, %d unparsed", ids, len(c.Objects), unparsed)
		}
		for j, sp := range c.Objects {
			o := s.Objects[j]
			if sp.Color == NoColor && sp.Shape == NoShape {
				t.Fatalf("phrase %+v names neither colour nor shape", sp)
			}
			if (sp.Size != NoSize && sp.Size != o.Size) || (sp.Color != NoColor && sp.Color != o.Color) ||
				(sp.Shape != NoShape && sp.Shape != o.Shape) || (sp.Cell != NoCell && sp.Cell != o.Cell) {
				t.Fatalf("partial phrase %+v contradicts object %+v", sp, o)
			}
			objects++
			sizes += b2i(sp.Size != NoSize)
			colors += b2i(sp.Color != NoColor)
			shapes += b2i(sp.Shape != NoShape)
			cells += b2i(sp.Cell != NoCell)
		}
		if len(c.Objects) < len(s.Objects) {
			stops++
		}
		if c.Background != NoBackground {
			if c.Background != s.Background {
				t.Fatal("wrong background")
			}
			bgs++
		}
	}
	// Expected rates, with q = 1 - StopProb the chance of going on after an
	// object: 1 + q + q^2 objects, plus q^3 for the half of the scenes that
	// hold four; an attribute is kept with 1 - its drop probability, and
	// colour and shape also when both were dropped and it was the one restored.
	near := func(name string, got, want float64) {
		if got < want-0.04 || got > want+0.04 {
			t.Errorf("%s = %.3f, want about %.3f", name, got, want)
		}
	}
	q := 1 - opt.StopProb
	both := opt.DropColor * opt.DropShape / 2
	near("objects per caption", float64(objects)/2000, 1+q+q*q+0.5*q*q*q)
	near("size kept", float64(sizes)/float64(objects), 1-opt.DropSize)
	near("position kept", float64(cells)/float64(objects), 1-opt.DropPosition)
	near("colour kept", float64(colors)/float64(objects), 1-opt.DropColor+both)
	near("shape kept", float64(shapes)/float64(objects), 1-opt.DropShape+both)
	near("background kept", float64(bgs)/2000, 1-opt.DropBackground)
	if want := 2000 * (1 - q*q*(1+q)/2); float64(stops) < want-100 {
		t.Errorf("stopped early in only %d of 2000 captions, want about %.0f", stops, want)
	}
	full := Partial(cfg.Sample(rngFor(1, 1)), PartialOptions{}, rngFor(1, 2))
	if s := cfg.Sample(rngFor(1, 1)); !reflect.DeepEqual(full, Oracle(s)) {
		t.Errorf("Partial with zero probabilities = %v, want the oracle %v", full, Oracle(s))
	}
	if err := (PartialOptions{StopProb: 1.5, DropShape: -0.1}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "stop probability 1.5") || !strings.Contains(err.Error(), "drop-shape probability -0.1") {
		t.Errorf("Validate of bad options = %v", err)
	}
}

// TestDefaultPartialGreedyStops checks the property the default recipe is
// chosen for: after an object phrase, a model that learned these captions
// exactly gives the end of the caption more probability than "and" or the
// background word, so its greedy captions describe one object and RL has
// objects left to add.
func TestDefaultPartialGreedyStops(t *testing.T) {
	o := DefaultPartialOptions()
	end := o.StopProb * o.DropBackground
	more := 1 - o.StopProb
	bg := o.StopProb * (1 - o.DropBackground)
	if !(end > more && end > bg) {
		t.Errorf("after a phrase: end %.2f, \"and\" %.2f, background %.2f: greedy decoding would not stop", end, more, bg)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
