package world

// Visual question answering over scenes: the understanding benchmark of the
// UMM-2 experiment (a small, exact stand-in for the paper's MMBench and the
// small-object detection of MMT-Bench, Tables 1 and 8).
//
// Questions and answers are token sequences (no BOS or EOS) over the QA
// vocabulary: the caption vocabulary (see Vocab), whose ids are unchanged,
// followed by the question and answer words, ids 30..49:
//
//	what colour shape size is-there where how-many yes no none zero one ... nine
//
// NewQAVocab encodes and decodes text over all of them, QAWord and QADecode
// detokenize without building one. The questions, one per QKind, with the
// answers they get on the scene "small red circle top-left and large blue
// square center and large red cross bottom on-gray":
//
//	what colour top-left   -> red        (ColorAt: the object in a cell; none if empty)
//	what shape center      -> square     (ShapeAt)
//	what size top-right    -> none       (SizeAt; small or large otherwise)
//	is-there red circle    -> yes        (Exists: some object has that colour and shape)
//	is-there blue circle   -> no
//	where red cross        -> bottom     (Where: the cell of such an object, first in
//	where green cross      -> none        cell order; none if there is none)
//	how-many               -> three      (Count: the number of objects)
//	how-many red           -> two        (CountColor: the number of objects of a colour)
//
// Every answer is one token. The scene is read as the grid sees it: the
// first object in each cell, objects Render would not draw (an invalid
// attribute or cell) ignored, so counts stop at nine.
//
// A question is about a small object (QA.Small) when its answer depends on one:
// removing the scene's small objects changes the answer. Above, "what colour
// top-left", "is-there red circle", "how-many" and "how-many red" are; a
// model blind to small objects gets exactly these wrong.

import (
	"fmt"
	"strings"
)

// Ids of the question and answer words; they follow the caption vocabulary.
const (
	qaWhat = vocabSize + iota
	qaColour
	qaShape
	qaSize
	qaIsThere
	qaWhere
	qaHowMany
	qaYes
	qaNo
	qaNone
	qaZero // qaZero+k is the number word of k, k = 0..NumCells
)

// FirstQAWord is the id of the first question word; every id below it is the
// caption vocabulary's.
const FirstQAWord = vocabSize

// QAVocabSize is the number of tokens of the QA vocabulary.
const QAVocabSize = qaZero + NumCells + 1

// qaWords are the words of ids FirstQAWord.. in order. Never modified.
var qaWords = [QAVocabSize - FirstQAWord]string{
	"what", "colour", "shape", "size", "is-there", "where", "how-many", "yes", "no", "none",
	"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
}

// NewQAVocab returns the QA vocabulary: the caption vocabulary, ids unchanged,
// then the question and answer words.
func NewQAVocab() *Vocab {
	v := NewVocab()
	for _, w := range qaWords {
		v.ids[w] = len(v.words)
		v.words = append(v.words, w)
	}
	return v
}

// QAWord returns the word of a token id of the QA vocabulary (caption words
// included), or "<unk:ID>" outside it. It allocates nothing for known ids.
func QAWord(id int) string {
	switch {
	case id < 0 || id >= QAVocabSize:
		return fmt.Sprintf("<unk:%d>", id)
	case id >= FirstQAWord:
		return qaWords[id-FirstQAWord]
	case id < firstSize:
		return [...]string{"<pad>", "<bos>", "<eos>", "and"}[id]
	case id < firstColor:
		return sizeWords[id-firstSize]
	case id < firstShape:
		return colorWords[id-firstColor]
	case id < firstCell:
		return shapeWords[id-firstShape]
	case id < firstBackground:
		return cellWords[id-firstCell]
	}
	return backgroundWords[id-firstBackground]
}

// QADecode returns the words of ids (see QAWord) separated by spaces.
func QADecode(ids []int) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(QAWord(id))
	}
	return b.String()
}

// QKind is the kind of a question.
type QKind int

// The question kinds.
const (
	ColorAt    QKind = iota // what colour CELL -> colour or none
	ShapeAt                 // what shape CELL -> shape or none
	SizeAt                  // what size CELL -> size or none
	Exists                  // is-there COLOUR SHAPE -> yes or no
	Where                   // where COLOUR SHAPE -> cell or none
	Count                   // how-many -> number
	CountColor              // how-many COLOUR -> number
)

// NumQKinds is the number of question kinds.
const NumQKinds = 7

// String returns the kind's name, such as "colour-at".
func (k QKind) String() string {
	if k < 0 || k >= NumQKinds {
		return fmt.Sprintf("qkind(%d)", int(k))
	}
	return [NumQKinds]string{"colour-at", "shape-at", "size-at", "exists", "where", "count", "count-colour"}[k]
}

// Question is a parsed question. Kinds use only some fields: ColorAt, ShapeAt
// and SizeAt a Cell; Exists and Where a Color and a Shape; CountColor a Color.
type Question struct {
	Kind  QKind
	Cell  int
	Color Color
	Shape Shape
}

// Validate reports whether the question's kind and the fields it uses are valid.
func (q Question) Validate() error {
	ok := true
	switch q.Kind {
	case ColorAt, ShapeAt, SizeAt:
		ok = ValidCell(q.Cell)
	case Exists, Where:
		ok = q.Color.Valid() && q.Shape.Valid()
	case Count:
	case CountColor:
		ok = q.Color.Valid()
	default:
		return fmt.Errorf("question: unknown kind %d", int(q.Kind))
	}
	if !ok {
		return fmt.Errorf("question %s: cell %d, colour %d, shape %d out of range", q.Kind, q.Cell, int(q.Color), int(q.Shape))
	}
	return nil
}

// Tokens writes a valid question as token ids (no BOS or EOS).
func (q Question) Tokens() []int {
	switch q.Kind {
	case ColorAt:
		return []int{qaWhat, qaColour, firstCell + q.Cell}
	case ShapeAt:
		return []int{qaWhat, qaShape, firstCell + q.Cell}
	case SizeAt:
		return []int{qaWhat, qaSize, firstCell + q.Cell}
	case Exists:
		return []int{qaIsThere, firstColor + int(q.Color), firstShape + int(q.Shape)}
	case Where:
		return []int{qaWhere, firstColor + int(q.Color), firstShape + int(q.Shape)}
	case Count:
		return []int{qaHowMany}
	}
	return []int{qaHowMany, firstColor + int(q.Color)}
}

// ParseQuestion reads the token ids of a question, exactly as Tokens writes
// them, optionally after a BOS and before an EOS.
func ParseQuestion(ids []int) (Question, error) {
	body := trimSequence(ids)
	q := Question{Kind: -1, Cell: NoCell, Color: NoColor, Shape: NoShape}
	in := func(id, first, n int) bool { return id >= first && id < first+n }
	switch {
	case len(body) == 3 && body[0] == qaWhat && in(body[2], firstCell, NumCells) && in(body[1], qaColour, 3):
		q.Kind, q.Cell = [...]QKind{ColorAt, ShapeAt, SizeAt}[body[1]-qaColour], body[2]-firstCell
	case len(body) == 3 && (body[0] == qaIsThere || body[0] == qaWhere) &&
		in(body[1], firstColor, NumColors) && in(body[2], firstShape, NumShapes):
		q.Kind, q.Color, q.Shape = Exists, Color(body[1]-firstColor), Shape(body[2]-firstShape)
		if body[0] == qaWhere {
			q.Kind = Where
		}
	case len(body) == 1 && body[0] == qaHowMany:
		q.Kind = Count
	case len(body) == 2 && body[0] == qaHowMany && in(body[1], firstColor, NumColors):
		q.Kind, q.Color = CountColor, Color(body[1]-firstColor)
	default:
		return Question{}, fmt.Errorf("parse question %q: not a question of the QA language", QADecode(ids))
	}
	return q, nil
}

// QA is a question about a scene with its answer.
type QA struct {
	Kind QKind
	// Small reports that the answer depends on a small object: it changes
	// when the scene's small objects are removed.
	Small bool
	// Question and Answer are token ids, without BOS or EOS.
	Question, Answer []int
}

// grid is a scene as questions see it: the first object of each cell.
type grid struct {
	obj  [NumCells]Object
	full [NumCells]bool
}

// gridOf returns the grid of s, keeping only the objects Render draws (valid
// attributes and cell) for which keep is true.
func gridOf(s Scene, keep func(Object) bool) grid {
	var g grid
	for _, o := range s.Objects {
		drawn := o.Shape.Valid() && o.Color.Valid() && o.Size.Valid() && ValidCell(o.Cell)
		if drawn && !g.full[o.Cell] && keep(o) {
			g.obj[o.Cell], g.full[o.Cell] = o, true
		}
	}
	return g
}

// answer returns the answer token of a valid question.
func (g *grid) answer(q Question) int {
	if q.Kind <= SizeAt {
		if !g.full[q.Cell] {
			return qaNone
		}
		o := g.obj[q.Cell]
		return [...]int{firstColor + int(o.Color), firstShape + int(o.Shape), firstSize + int(o.Size)}[q.Kind]
	}
	where, n := -1, 0
	for cell, o := range g.obj {
		if !g.full[cell] {
			continue
		}
		switch q.Kind {
		case Exists, Where:
			if o.Color == q.Color && o.Shape == q.Shape && where < 0 {
				where = cell
			}
		case Count:
			n++
		case CountColor:
			if o.Color == q.Color {
				n++
			}
		}
	}
	switch {
	case q.Kind == Exists && where >= 0:
		return qaYes
	case q.Kind == Exists:
		return qaNo
	case q.Kind == Where && where >= 0:
		return firstCell + where
	case q.Kind == Where:
		return qaNone
	}
	return qaZero + n
}

// Ask answers a question about a scene.
func Ask(s Scene, q Question) (QA, error) {
	if err := q.Validate(); err != nil {
		return QA{}, fmt.Errorf("ask: %w", err)
	}
	return ask(s, q), nil
}

// ask answers a valid question.
func ask(s Scene, q Question) QA {
	all := gridOf(s, func(Object) bool { return true })
	large := gridOf(s, func(o Object) bool { return o.Size != Small })
	a := all.answer(q)
	return QA{Kind: q.Kind, Small: a != large.answer(q), Question: q.Tokens(), Answer: []int{a}}
}
