package unified

import (
	"strings"

	"github.com/unigrpo/unigrpo/world"
)

// The unified model's text vocabulary in the world: the world's question-answer vocabulary (the
// caption words, ids unchanged, then the question and answer words) followed by the tokens that
// mark images and tasks. V tokens in all; the language model's head predicts these, the
// generation head the VQ codebook.
const (
	ImageToken = world.QAVocabSize + iota // placeholder of one understanding image feature
	BeginImage                            // the generated image's codes follow
	EndImage                              // after the codes (not generated: the grid is fixed)
	Describe                              // task: caption the image
	Ask                                   // task: answer the question that follows
	Answer                                // the answer follows
	Draw                                  // task: draw the caption that follows
	V                                     // vocabulary size
)

// markWords name the marker tokens in text.
var markWords = [V - world.QAVocabSize]string{"<image>", "<begin_of_image>", "<end_of_image>", "<describe>", "<ask>", "<answer>", "<draw>"}

// Word returns the text of a token id.
func Word(id int) string {
	if id >= world.QAVocabSize && id < V {
		return markWords[id-world.QAVocabSize]
	}
	return world.QAWord(id)
}

// Text joins the words of ids with spaces: what the reward's decoder and the logs read.
func Text(ids []int) string {
	w := make([]string, len(ids))
	for i, id := range ids {
		w[i] = Word(id)
	}
	return strings.Join(w, " ")
}

// Encode is the inverse of Text over the whole vocabulary; an unknown word is reported, not
// dropped.
func Encode(text string) ([]int, bool) {
	f := strings.Fields(text)
	ids := make([]int, len(f))
	for i, w := range f {
		id, ok := wordIDs[w]
		if !ok {
			return nil, false
		}
		ids[i] = id
	}
	return ids, true
}

// wordIDs maps every word of the vocabulary to its id. Never modified after init.
var wordIDs = func() map[string]int {
	m := make(map[string]int, V)
	for id := range V {
		m[Word(id)] = id
	}
	return m
}()

// The prompts of the three tasks, with P image placeholders (the vision tower's patches):
//
//	caption:  BOS <image>xP <describe>                       -> caption EOS
//	question: BOS <image>xP <ask> question <answer>          -> answer EOS
//	drawing:  BOS <draw> caption <begin_of_image>             -> N image codes
//
// A drawing prompt with an empty caption is the unconditional prompt of classifier-free guidance.

// CaptionPrompt is the prompt before a caption of an image.
func CaptionPrompt(P int) []int {
	return append(append([]int{world.BOS}, repeat(ImageToken, P)...), Describe)
}

// QuestionPrompt is the prompt before the answer to a question about an image.
func QuestionPrompt(P int, question []int) []int {
	p := append(append([]int{world.BOS}, repeat(ImageToken, P)...), Ask)
	return append(append(p, question...), Answer)
}

// DrawPrompt is the prompt before the codes of the image a caption describes.
func DrawPrompt(caption []int) []int {
	p := append([]int{world.BOS, Draw}, caption...)
	return append(p, BeginImage)
}

func repeat(id, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = id
	}
	return out
}
