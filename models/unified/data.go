package unified

import (
	"fmt"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/world"
	"github.com/unigrpo/unigrpo/world/task"
)

// Data is the supervised stage of the unified model in the world: three kinds of examples of
// each scene, in the model's token ids, each row starting with its task marker:
//
//	Describe caption                 image -> a partial caption (the UMM-1 baseline's recipe, so
//	                                 that reinforcement learning has room to add detail)
//	Ask question Answer answer       image + a question -> its one-word answer
//	Draw caption                     a caption -> the codes of the image (full or partial
//	                                 captions; an empty one with probability EmptyDraw, the
//	                                 unconditional branch of classifier-free guidance)
//
// Example j of a scene has task j mod 3, so every batch of k = 3m examples per scene holds m of
// each (k = 1 gives captions only, which the VQ stage, reading images alone, does not read). Every example is drawn from the stream (seed, Caption, step, scene*k+j), so a rank's share
// does not depend on the number of ranks.
type Data struct {
	task.Source
	// Partial is the recipe of the partial captions of the caption examples.
	Partial world.PartialOptions
	// DrawFull is the share of drawing examples whose caption is the scene's full description;
	// the others are partial captions of the same recipe.
	DrawFull float64
	// EmptyDraw is the share of drawing examples with an empty caption.
	EmptyDraw float64
}

// DefaultData returns the world's supervised stage: the default world and partial captions,
// half of the drawing prompts full descriptions, one in ten empty.
func DefaultData() Data {
	return Data{Source: task.Source{World: world.DefaultConfig()}, Partial: world.DefaultPartialOptions(),
		DrawFull: 0.5, EmptyDraw: 0.1}
}

// Tasks of the supervised examples, in the order of an image's examples.
const (
	TaskCaption = iota
	TaskQuestion
	TaskDraw
	numTasks
)

// Pairs returns the images of global indices [lo, hi) of a step and k examples of each (row
// i*k+j), marked with their task.
func (d Data) Pairs(seed uint64, step, lo, hi, k int) ([]images.Planar, [][]int, error) {
	scenes, imgs := d.Scenes(seed, step, lo, hi)
	rows := make([][]int, len(scenes)*k)
	for i, s := range scenes {
		for j := range k {
			rng := stream.RNG(seed, stream.Caption, step, (lo+i)*k+j)
			switch j % numTasks {
			case TaskCaption:
				rows[i*k+j] = append([]int{Describe}, world.Partial(s, d.Partial, rng)...)
			case TaskQuestion:
				qa := world.Questions(s, 1, rng)[0]
				row := append([]int{Ask}, qa.Question...)
				rows[i*k+j] = append(append(row, Answer), qa.Answer...)
			case TaskDraw:
				row := []int{Draw}
				switch u := rng.Float64(); {
				case u < d.EmptyDraw:
				case u < d.EmptyDraw+(1-d.EmptyDraw)*d.DrawFull:
					row = append(row, world.Oracle(s)...)
				default:
					row = append(row, world.Partial(s, d.Partial, rng)...)
				}
				rows[i*k+j] = row
			}
		}
	}
	return imgs, rows, nil
}

// Example is one supervised row split into its task and parts.
type Example struct {
	Task     int
	Caption  []int // the caption (TaskCaption) or the drawing prompt (TaskDraw, maybe empty)
	Question []int // TaskQuestion
	Answer   []int // TaskQuestion
}

// ParseExample splits a row of Pairs.
func ParseExample(row []int) (Example, error) {
	if len(row) == 0 {
		return Example{}, fmt.Errorf("unified: empty example row")
	}
	switch row[0] {
	case Describe:
		return Example{Task: TaskCaption, Caption: row[1:]}, nil
	case Draw:
		return Example{Task: TaskDraw, Caption: row[1:]}, nil
	case Ask:
		for t := 1; t < len(row); t++ {
			if row[t] == Answer {
				return Example{Task: TaskQuestion, Question: row[1:t], Answer: row[t+1:]}, nil
			}
		}
		return Example{}, fmt.Errorf("unified: question row %q has no %s marker", Text(row), Word(Answer))
	}
	return Example{}, fmt.Errorf("unified: example row %q starts with no task marker", Text(row))
}
