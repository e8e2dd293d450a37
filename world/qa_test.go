package world

import (
	"slices"
	"strings"
	"testing"
)

// The QA vocabulary's oracle is the caption vocabulary itself: its ids must
// not move, and the new words come after it.
func TestQAVocab(t *testing.T) {
	cv, qv := NewVocab(), NewQAVocab()
	if qv.V() != QAVocabSize || FirstQAWord != cv.V() {
		t.Fatalf("QA vocabulary has %d words (QAVocabSize %d), first QA word %d, caption vocabulary %d",
			qv.V(), QAVocabSize, FirstQAWord, cv.V())
	}
	seen := map[string]bool{}
	for id := range QAVocabSize {
		w := qv.Word(id)
		if id < cv.V() && w != cv.Word(id) {
			t.Errorf("id %d is %q in the QA vocabulary, %q in the caption one", id, w, cv.Word(id))
		}
		if QAWord(id) != w {
			t.Errorf("QAWord(%d) = %q, vocabulary says %q", id, QAWord(id), w)
		}
		if seen[w] {
			t.Errorf("word %q appears twice", w)
		}
		seen[w] = true
	}
	for _, id := range []int{-1, QAVocabSize} {
		if w := QAWord(id); !strings.HasPrefix(w, "<unk:") {
			t.Errorf("QAWord(%d) = %q, want an <unk:...> placeholder", id, w)
		}
	}
	ids, err := qv.Encode("what colour top-left how-many red nine none")
	if err != nil {
		t.Fatal(err)
	}
	if got := QADecode(ids); got != "what colour top-left how-many red nine none" {
		t.Errorf("QADecode round trip gave %q", got)
	}
}

// askText answers a question written as text and returns the answer as text
// and the small flag.
func askText(t *testing.T, s Scene, text string) (string, bool) {
	t.Helper()
	ids, err := NewQAVocab().Encode(text)
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParseQuestion(ids)
	if err != nil {
		t.Fatal(err)
	}
	qa, err := Ask(s, q)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(qa.Question, ids) {
		t.Errorf("%q: question tokens %v, want %v", text, qa.Question, ids)
	}
	if len(qa.Answer) != 1 {
		t.Errorf("%q: answer %v is not one token", text, qa.Answer)
	}
	return QADecode(qa.Answer), qa.Small
}

// The oracle is a hand-built scene whose answers are worked out by hand, for
// every kind, including empty cells, absent objects and small-object flags.
func TestAnswersHandBuilt(t *testing.T) {
	s := Scene{Background: Gray, Objects: []Object{
		{Size: Small, Color: Red, Shape: Circle, Cell: 0},
		{Size: Large, Color: Blue, Shape: Square, Cell: 4},
		{Size: Large, Color: Red, Shape: Cross, Cell: 7},
		{Size: Small, Color: Green, Shape: Triangle, Cell: 8},
		{Size: Large, Color: Green, Shape: Triangle, Cell: 5},
	}}
	for _, c := range []struct {
		q, a  string
		small bool
	}{
		{"what colour top-left", "red", true},
		{"what colour center", "blue", false},
		{"what colour top-right", "none", false},
		{"what shape center", "square", false},
		{"what shape bottom-right", "triangle", true},
		{"what shape left", "none", false},
		{"what size top-left", "small", true},
		{"what size bottom", "large", false},
		{"what size bottom-left", "none", false},
		{"is-there red circle", "yes", true},
		{"is-there red cross", "yes", false},
		{"is-there blue circle", "no", false},
		{"is-there green triangle", "yes", false}, // a large one remains without the small one
		{"where blue square", "center", false},
		{"where red circle", "top-left", true},
		{"where green triangle", "right", false}, // two: the first in cell order, which is large
		{"where white cross", "none", false},
		{"how-many", "five", true},
		{"how-many red", "two", true},
		{"how-many blue", "one", false},
		{"how-many cyan", "zero", false},
	} {
		a, small := askText(t, s, c.q)
		if a != c.a || small != c.small {
			t.Errorf("%q: answer %q small %v, want %q small %v", c.q, a, small, c.a, c.small)
		}
	}
	// Where on a pair whose first object is small depends on it.
	s2 := Scene{Background: Black, Objects: []Object{
		{Size: Small, Color: White, Shape: Cross, Cell: 1},
		{Size: Large, Color: White, Shape: Cross, Cell: 2},
	}}
	if a, small := askText(t, s2, "where white cross"); a != "top" || !small {
		t.Errorf("where white cross: %q small %v, want top small true", a, small)
	}
	// The empty scene, and objects the renderer would not draw, hold nothing.
	ghost := Scene{Background: Navy, Objects: []Object{{Size: Large, Color: NoColor, Shape: Circle, Cell: 3}, {Size: Large, Color: Red, Shape: Circle, Cell: 12}}}
	for _, sc := range []Scene{{Background: Black}, ghost} {
		if a, _ := askText(t, sc, "how-many"); a != "zero" {
			t.Errorf("how-many on %v: %q, want zero", sc, a)
		}
		if a, _ := askText(t, sc, "what colour left"); a != "none" {
			t.Errorf("what colour left on %v: %q, want none", sc, a)
		}
	}
	if _, err := Ask(s, Question{Kind: ColorAt, Cell: 9}); err == nil {
		t.Error("Ask accepted a question about cell 9")
	}
	if _, err := Ask(s, Question{Kind: NumQKinds}); err == nil {
		t.Error("Ask accepted an unknown kind")
	}
}

// The oracle is the language's documentation: the examples in qa.go's
// comment, on the scene it names.
func TestQADocExamples(t *testing.T) {
	ids, err := NewVocab().Encode("small red circle top-left and large blue square center and large red cross bottom on-gray")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := ParseCaption(ids)
	s := Scene{Background: c.Background}
	for _, sp := range c.Objects {
		s.Objects = append(s.Objects, Object{Size: sp.Size, Color: sp.Color, Shape: sp.Shape, Cell: sp.Cell})
	}
	for _, c := range []struct {
		q, a  string
		small bool
	}{
		{"what colour top-left", "red", true}, {"what shape center", "square", false}, {"what size top-right", "none", false},
		{"is-there red circle", "yes", true}, {"is-there blue circle", "no", false}, {"where red cross", "bottom", false},
		{"where green cross", "none", false}, {"how-many", "three", true}, {"how-many red", "two", true},
	} {
		if a, small := askText(t, s, c.q); a != c.a || small != c.small {
			t.Errorf("%q: answer %q small %v, want %q small %v", c.q, a, small, c.a, c.small)
		}
	}
}

// The oracle is the grammar: every question Tokens writes parses back, with
// BOS, EOS and padding around it, and sequences outside the grammar fail.
func TestParseQuestion(t *testing.T) {
	for k := range QKind(NumQKinds) {
		for _, q := range []Question{{Kind: k, Cell: 8, Color: Orange, Shape: Cross}, {Kind: k, Cell: 0, Color: Red, Shape: Circle}} {
			ids := append(append([]int{BOS}, q.Tokens()...), EOS, PAD)
			got, err := ParseQuestion(ids)
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			if got.Kind != k || (k <= SizeAt && got.Cell != q.Cell) || ((k == Exists || k == Where || k == CountColor) && got.Color != q.Color) ||
				((k == Exists || k == Where) && got.Shape != q.Shape) {
				t.Errorf("%s: parsed %+v from %q, want %+v", k, got, QADecode(ids), q)
			}
		}
	}
	qv := NewQAVocab()
	for _, text := range []string{"", "what", "what colour", "what colour red", "what top-left colour", "is-there red", "where circle red",
		"how-many red circle", "how-many top-left", "red", "is-there red circle yes"} {
		ids, err := qv.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseQuestion(ids); err == nil {
			t.Errorf("ParseQuestion accepted %q", text)
		}
	}
	if _, err := ParseQuestion([]int{qaHowMany, QAVocabSize}); err == nil || !strings.Contains(err.Error(), "<unk:") {
		t.Errorf("ParseQuestion of an out-of-range id: %v", err)
	}
}

// The oracle is Ask (checked by hand above) and counting: Questions must mix
// the kinds evenly, balance yes and no, only ask unambiguous Where questions
// and give the same questions for the same rng state.
func TestQuestionsBalancedAndDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	rng := rngFor(5, 1)
	const scenes, per = 300, 4 * NumQKinds
	var kinds [NumQKinds]int
	var yes, no, small, noneAns int
	for range scenes {
		s := cfg.Sample(rng)
		qas := Questions(s, per, rng)
		if len(qas) != per {
			t.Fatalf("got %d questions, want %d", len(qas), per)
		}
		var sceneKinds [NumQKinds]int
		for _, qa := range qas {
			sceneKinds[qa.Kind]++
			q, err := ParseQuestion(qa.Question)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := Ask(s, q)
			if !slices.Equal(want.Answer, qa.Answer) || want.Small != qa.Small || want.Kind != qa.Kind {
				t.Errorf("question %q: drawn %+v, Ask gives %+v", QADecode(qa.Question), qa, want)
			}
			if qa.Kind == Where && qa.Answer[0] != qaNone {
				n := 0
				for _, o := range s.Objects {
					if o.Color == q.Color && o.Shape == q.Shape {
						n++
					}
				}
				if n != 1 {
					t.Errorf("ambiguous question %q: %d objects match", QADecode(qa.Question), n)
				}
			}
			switch qa.Answer[0] {
			case qaYes:
				yes++
			case qaNo:
				no++
			case qaNone:
				noneAns++
			}
			if qa.Small {
				small++
			}
		}
		for k, n := range sceneKinds {
			if n != per/NumQKinds {
				t.Errorf("scene got %d %s questions of %d, want %d", n, QKind(k), per, per/NumQKinds)
			}
			kinds[k] += n
		}
	}
	total := scenes * per
	t.Logf("%d questions: per kind %v, yes %d no %d, none %d, small %d (%.3f)", total, kinds, yes, no, noneAns, small, float64(small)/float64(total))
	if yes != no {
		t.Errorf("yes %d, no %d: want them equal (even number of exists questions per scene)", yes, no)
	}
	if f := float64(small) / float64(total); f < 0.2 || f > 0.6 {
		t.Errorf("small-object questions are %.3f of all, want between 0.2 and 0.6", f)
	}
	// One question a call, as a trainer drawing one per image would: kinds
	// and yes/no still balance on average.
	var one [NumQKinds]int
	yes, no = 0, 0
	for range 7000 {
		qa := Questions(cfg.Sample(rng), 1, rng)[0]
		one[qa.Kind]++
		if qa.Kind == Exists && qa.Answer[0] == qaYes {
			yes++
		} else if qa.Kind == Exists {
			no++
		}
	}
	t.Logf("one question a call, 7000 calls: per kind %v, yes %d no %d", one, yes, no)
	if slices.Min(one[:]) < 850 || slices.Max(one[:]) > 1150 || yes < 400 || no < 400 {
		t.Errorf("one question a call: per kind %v, yes %d no %d, want about 1000 a kind and yes and no about equal", one, yes, no)
	}
	// A count that is not a multiple of the kinds: off by at most one.
	qas := Questions(cfg.Sample(rng), 10, rng)
	var k10 [NumQKinds]int
	for _, qa := range qas {
		k10[qa.Kind]++
	}
	if slices.Min(k10[:]) != 1 || slices.Max(k10[:]) != 2 {
		t.Errorf("10 questions per kind %v, want one or two of each", k10)
	}
	// Determinism: same rng state, same questions; another state, others.
	s := cfg.Sample(rngFor(9, 9))
	a, b, c := Questions(s, 50, rngFor(1, 2)), Questions(s, 50, rngFor(1, 2)), Questions(s, 50, rngFor(1, 3))
	same := func(x, y []QA) bool {
		return slices.EqualFunc(x, y, func(p, q QA) bool {
			return p.Kind == q.Kind && p.Small == q.Small && slices.Equal(p.Question, q.Question) && slices.Equal(p.Answer, q.Answer)
		})
	}
	if !same(a, b) {
		t.Error("the same rng state gave different questions")
	}
	if same(a, c) {
		t.Error("different rng states gave the same 50 questions")
	}
	if got := Questions(s, 0, rngFor(1, 2)); len(got) != 0 {
		t.Error("zero questions asked, some drawn")
	}
	if got := Questions(Scene{Background: Gray}, 14, rngFor(1, 2)); len(got) != 14 {
		t.Errorf("empty scene: %d questions, want 14", len(got))
	}
}

// The oracle is hand-made answers with a known number of right ones.
func TestScoreAnswers(t *testing.T) {
	s := Scene{Background: Gray, Objects: []Object{
		{Size: Small, Color: Red, Shape: Circle, Cell: 0},
		{Size: Large, Color: Blue, Shape: Square, Cell: 4},
	}}
	ask := func(q Question) QA {
		qa, err := Ask(s, q)
		if err != nil {
			t.Fatal(err)
		}
		return qa
	}
	qas := []QA{
		ask(Question{Kind: ColorAt, Cell: 0}),                   // red, small
		ask(Question{Kind: Exists, Color: Blue, Shape: Square}), // yes
		ask(Question{Kind: Count}),                              // two, small
		ask(Question{Kind: Where, Color: Green, Shape: Cross}),  // none
		ask(Question{Kind: CountColor, Color: Blue}),            // one
		ask(Question{Kind: ShapeAt, Cell: 4}),                   // square (unanswered)
	}
	answers := [][]int{
		{BOS, firstColor + int(Red), EOS, PAD}, // right once trimmed
		{qaNo},                                 // wrong
		{qaZero + 2, PAD},                      // right
		{qaNone, qaNone},                       // wrong: two tokens
		{qaZero + 1, EOS, qaZero + 2},          // right: cut at EOS
	}
	v := ScoreAnswers(qas, answers)
	if v.Questions != 6 || v.Correct != 3 || v.SmallQuestions != 2 || v.SmallCorrect != 2 || v.Unanswered != 1 {
		t.Errorf("score %+v, want 6 questions, 3 right, 2 small both right, 1 unanswered", v)
	}
	approx(t, "accuracy", v.Accuracy(), 0.5)
	approx(t, "small accuracy", v.SmallAccuracy(), 1)
	approx(t, "exists accuracy", v.KindAccuracy(Exists), 0)
	approx(t, "count accuracy", v.KindAccuracy(Count), 1)
	approx(t, "shape-at accuracy", v.KindAccuracy(ShapeAt), 0)
	approx(t, "unknown kind accuracy", v.KindAccuracy(-1), 0)
	sum := v.Add(v)
	if sum.Questions != 12 || sum.KindCorrect[CountColor] != 2 || sum.Accuracy() != v.Accuracy() {
		t.Errorf("sum %+v", sum)
	}
	truth := make([][]int, len(qas))
	for i, qa := range qas {
		truth[i] = qa.Answer
	}
	if a := ScoreAnswers(qas, truth).Accuracy(); a != 1 {
		t.Errorf("true answers score %.3f", a)
	}
	if a := ScoreAnswers(nil, nil); a.Accuracy() != 0 || a.Questions != 0 {
		t.Errorf("no questions: %+v", a)
	}
}
