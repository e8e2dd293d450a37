package world

import (
	"slices"

	"github.com/unigrpo/unigrpo/internal/pooled"
)

// VQAScore tallies exact-match answers; scores add across batches (Add).
type VQAScore struct {
	Questions int `json:"questions"`
	Correct   int `json:"correct"`
	// SmallQuestions and SmallCorrect count the questions about small objects.
	SmallQuestions int `json:"small_questions"`
	SmallCorrect   int `json:"small_correct"`
	// Unanswered counts questions that had no answer (answers ran out).
	Unanswered int `json:"unanswered"`
	// KindQuestions and KindCorrect count per QKind.
	KindQuestions [NumQKinds]int `json:"kind_questions"`
	KindCorrect   [NumQKinds]int `json:"kind_correct"`
}

// ScoreAnswers compares answers[i] with qas[i].Answer by exact match, after
// dropping a leading BOS, everything from the first EOS on and trailing PADs
// from the answer. Questions beyond len(answers) count as unanswered and
// wrong; answers beyond len(qas) are ignored.
func ScoreAnswers(qas []QA, answers [][]int) VQAScore {
	var v VQAScore
	for i, qa := range qas {
		var got []int
		if i < len(answers) {
			got = trimSequence(answers[i])
		} else {
			v.Unanswered++
		}
		ok := 0
		if len(qa.Answer) > 0 && slices.Equal(got, qa.Answer) {
			ok = 1
		}
		v.Questions++
		v.Correct += ok
		if qa.Small {
			v.SmallQuestions++
			v.SmallCorrect += ok
		}
		if qa.Kind >= 0 && qa.Kind < NumQKinds {
			v.KindQuestions[qa.Kind]++
			v.KindCorrect[qa.Kind] += ok
		}
	}
	return v
}

// Add returns the sum of two tallies.
func (v VQAScore) Add(o VQAScore) VQAScore {
	v.Questions += o.Questions
	v.Correct += o.Correct
	v.SmallQuestions += o.SmallQuestions
	v.SmallCorrect += o.SmallCorrect
	v.Unanswered += o.Unanswered
	for k := range NumQKinds {
		v.KindQuestions[k] += o.KindQuestions[k]
		v.KindCorrect[k] += o.KindCorrect[k]
	}
	return v
}

// Accuracy returns the share of questions answered right (0 without questions).
func (v VQAScore) Accuracy() float64 { return ratio(v.Correct, v.Questions) }

// Ratios returns Accuracy and SmallAccuracy as numerators and denominators (pooled.Ratio), keyed
// vqa_accuracy and vqa_small_accuracy, for pooling and resampling per scene.
func (v VQAScore) Ratios() map[string]pooled.Ratio {
	return map[string]pooled.Ratio{
		"vqa_accuracy":       {Num: float64(v.Correct), Den: float64(v.Questions)},
		"vqa_small_accuracy": {Num: float64(v.SmallCorrect), Den: float64(v.SmallQuestions)},
	}
}

// SmallAccuracy returns the accuracy on questions about small objects.
func (v VQAScore) SmallAccuracy() float64 { return ratio(v.SmallCorrect, v.SmallQuestions) }

// KindAccuracy returns the accuracy on questions of kind k (0 for an unknown kind).
func (v VQAScore) KindAccuracy(k QKind) float64 {
	if k < 0 || k >= NumQKinds {
		return 0
	}
	return ratio(v.KindCorrect[k], v.KindQuestions[k])
}

// trimSequence drops a leading BOS, everything from the first EOS on and
// trailing PADs.
func trimSequence(ids []int) []int {
	if len(ids) > 0 && ids[0] == BOS {
		ids = ids[1:]
	}
	if i := slices.Index(ids, EOS); i >= 0 {
		ids = ids[:i]
	}
	for len(ids) > 0 && ids[len(ids)-1] == PAD {
		ids = ids[:len(ids)-1]
	}
	return ids
}
