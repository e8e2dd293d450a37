package world

import (
	"fmt"
	"strings"
)

// Special token ids.
const (
	PAD = 0 // padding
	BOS = 1 // beginning of sequence
	EOS = 2 // end of sequence
	Sep = 3 // separator between object phrases ("and")
)

// First ids of each group of words; the groups follow each other in this order.
const (
	firstSize       = Sep + 1
	firstColor      = firstSize + NumSizes
	firstShape      = firstColor + NumColors
	firstCell       = firstShape + NumShapes
	firstBackground = firstCell + NumCells
	vocabSize       = firstBackground + NumBackgrounds
)

// Vocab is the caption language's tokenizer: a fixed list of words, one token
// id each. Ids 0..3 are PAD, BOS, EOS and Sep; then come the size, colour,
// shape, position and background words. A Vocab is read-only and safe for
// concurrent use.
type Vocab struct {
	words []string
	ids   map[string]int
}

// NewVocab returns the world's vocabulary.
func NewVocab() *Vocab {
	words := []string{"<pad>", "<bos>", "<eos>", "and"}
	words = append(words, sizeWords[:]...)
	words = append(words, colorWords[:]...)
	words = append(words, shapeWords[:]...)
	words = append(words, cellWords[:]...)
	words = append(words, backgroundWords[:]...)
	ids := make(map[string]int, len(words))
	for i, w := range words {
		ids[w] = i
	}
	return &Vocab{words: words, ids: ids}
}

// V returns the number of tokens.
func (v *Vocab) V() int { return len(v.words) }

// Word returns the word of a token id, or "<unk:ID>" for an id outside the vocabulary.
func (v *Vocab) Word(id int) string {
	if id < 0 || id >= len(v.words) {
		return fmt.Sprintf("<unk:%d>", id)
	}
	return v.words[id]
}

// ID returns the token id of a word and whether the word exists.
func (v *Vocab) ID(word string) (int, bool) {
	id, ok := v.ids[word]
	return id, ok
}

// Words returns a copy of the vocabulary, indexed by token id.
func (v *Vocab) Words() []string { return append([]string(nil), v.words...) }

// Encode splits text on white space and returns the token id of each word.
// It fails on the first word that is not in the vocabulary.
func (v *Vocab) Encode(text string) ([]int, error) {
	fields := strings.Fields(text)
	ids := make([]int, len(fields))
	for i, f := range fields {
		id, ok := v.ids[f]
		if !ok {
			return nil, fmt.Errorf("encode caption: unknown word %q at position %d; known words: %s", f, i, strings.Join(v.words, " "))
		}
		ids[i] = id
	}
	return ids, nil
}

// Decode returns the words of ids separated by spaces. Ids outside the
// vocabulary appear as "<unk:ID>"; Decode never fails.
func (v *Vocab) Decode(ids []int) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(v.Word(id))
	}
	return b.String()
}
