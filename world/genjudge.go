package world

import (
	"fmt"
	"math/rand/v2"

	"github.com/unigrpo/unigrpo/internal/pooled"
)

// GenScore judges generated images GenEval-style: what share of the objects
// and of the attributes a prompt asks for the image shows. Scores add across
// prompts (Add); the ratios pool the counts (a micro-average).
//
// Only what the prompt states is scored: each stated colour, shape, size and
// position of each object phrase, and the background if stated. Objects the
// image adds beyond the prompt are not penalised (a partial prompt leaves
// them open), nor are attributes the prompt leaves out.
type GenScore struct {
	// Prompts counts the judged prompts; PromptsFound those that ask for
	// something and whose every asked attribute is found (GenEval's
	// per-image correctness).
	Prompts      int `json:"prompts"`
	PromptsFound int `json:"prompts_found"`
	// Objects counts the asked objects (the prompt's object phrases),
	// ObjectsFound those matched to a drawn object with every stated
	// attribute right.
	Objects      int `json:"objects"`
	ObjectsFound int `json:"objects_found"`
	// Attributes counts the asked attributes (stated object attributes plus a
	// stated background), AttributesFound those the image shows.
	Attributes      int `json:"attributes"`
	AttributesFound int `json:"attributes_found"`
	// Unparsed counts the prompt tokens the caption parser could not use.
	Unparsed int `json:"unparsed"`
}

// Add returns the sum of two scores.
func (g GenScore) Add(o GenScore) GenScore {
	return GenScore{
		Prompts: g.Prompts + o.Prompts, PromptsFound: g.PromptsFound + o.PromptsFound,
		Objects: g.Objects + o.Objects, ObjectsFound: g.ObjectsFound + o.ObjectsFound,
		Attributes: g.Attributes + o.Attributes, AttributesFound: g.AttributesFound + o.AttributesFound,
		Unparsed: g.Unparsed + o.Unparsed,
	}
}

// Accuracy returns the share of asked attributes found (0 when none was asked).
func (g GenScore) Accuracy() float64 { return ratio(g.AttributesFound, g.Attributes) }

// ObjectAccuracy returns the share of asked objects found (0 when none was asked).
func (g GenScore) ObjectAccuracy() float64 { return ratio(g.ObjectsFound, g.Objects) }

// Ratios returns Accuracy and ObjectAccuracy as numerators and denominators (pooled.Ratio), keyed
// generation_accuracy and generation_object_accuracy, for pooling and resampling per prompt.
func (g GenScore) Ratios() map[string]pooled.Ratio {
	return map[string]pooled.Ratio{
		"generation_accuracy":        {Num: float64(g.AttributesFound), Den: float64(g.Attributes)},
		"generation_object_accuracy": {Num: float64(g.ObjectsFound), Den: float64(g.Objects)},
	}
}

// PromptAccuracy returns the share of prompts fully satisfied (0 without prompts).
func (g GenScore) PromptAccuracy() float64 { return ratio(g.PromptsFound, g.Prompts) }

// JudgeGeneration reads a generated image with the reader and judges it
// against the prompt it was generated from (caption token ids, possibly
// partial or malformed; see ParseCaption and JudgeScene). It fails only when
// the image cannot be read.
func (r *Reader) JudgeGeneration(prompt []int, im Image) (GenScore, error) {
	s, err := r.Read(im)
	if err != nil {
		return GenScore{}, fmt.Errorf("judge generation: %w", err)
	}
	return JudgeScene(prompt, s), nil
}

// JudgeScene judges a scene (read from a generated image, or any other)
// against a prompt. The prompt is parsed by ParseCaption: its object phrases
// are the asked objects, written duplicates included (two "red circle"
// phrases ask for two red circles); tokens it cannot use are counted in
// Unparsed and otherwise ignored.
//
// Asked objects are matched one-to-one to the scene's objects by an optimal
// assignment that maximises first the number of objects found (every stated
// attribute right) and then the number of stated attributes right. An object
// left unmatched (the scene has fewer objects) finds none of its attributes.
func JudgeScene(prompt []int, s Scene) GenScore {
	c, unparsed := ParseCaption(prompt)
	g := GenScore{Prompts: 1, Unparsed: unparsed, Objects: len(c.Objects)}
	if c.Background.Valid() {
		g.Attributes++
		if c.Background == s.Background {
			g.AttributesFound++
		}
	}
	for _, sp := range c.Objects {
		g.Attributes += sp.Stated()
	}
	for p, t := range matchAsked(c.Objects, s.Objects) {
		if t < 0 {
			continue
		}
		right := rightAttributes(c.Objects[p], s.Objects[t])
		g.AttributesFound += right
		if right == c.Objects[p].Stated() {
			g.ObjectsFound++
		}
	}
	if g.Attributes > 0 && g.AttributesFound == g.Attributes {
		g.PromptsFound = 1
	}
	return g
}

// rightAttributes counts the spec's stated attributes the object has.
func rightAttributes(sp Spec, o Object) int {
	n := 0
	for _, ok := range [...]bool{
		sp.Size.Valid() && sp.Size == o.Size, sp.Color.Valid() && sp.Color == o.Color,
		sp.Shape.Valid() && sp.Shape == o.Shape, ValidCell(sp.Cell) && sp.Cell == o.Cell,
	} {
		if ok {
			n++
		}
	}
	return n
}

// matchAsked pairs specs with objects as JudgeScene describes, with match.go's
// assignment solver, and returns for each spec the index of its object or -1.
func matchAsked(specs []Spec, objs []Object) []int {
	toObj := make([]int, len(specs))
	for i := range toObj {
		toObj[i] = -1
	}
	if len(specs) == 0 || len(objs) == 0 {
		return toObj
	}
	// A found object outweighs every attribute of every pair (at most four
	// a pair), so the assignment maximises found objects first.
	bonus := float64(4*min(len(specs), len(objs)) + 1)
	weight := func(p, t int) float64 {
		right := rightAttributes(specs[p], objs[t])
		w := float64(right)
		if right == specs[p].Stated() {
			w += bonus
		}
		return w
	}
	transposed := len(specs) > len(objs) // assign wants no more rows than columns
	rows, cols := len(specs), len(objs)
	if transposed {
		rows, cols = cols, rows
	}
	cost := make([][]float64, rows)
	for i := range cost {
		cost[i] = make([]float64, cols)
		for j := range cost[i] {
			if transposed {
				cost[i][j] = -weight(j, i)
			} else {
				cost[i][j] = -weight(i, j)
			}
		}
	}
	for i, j := range assign(cost) {
		if transposed {
			toObj[j] = i
		} else {
			toObj[i] = j
		}
	}
	return toObj
}

// genPromptOptions is how WorldPrompts writes its partial prompts: every
// object described (like GenEval's multi-object prompts), each attribute
// dropped independently, colour and shape less often than size and position.
func genPromptOptions() PartialOptions {
	return PartialOptions{StopProb: 0, DropSize: 0.5, DropColor: 0.25, DropShape: 0.25, DropPosition: 0.5, DropBackground: 0.5}
}

// genPromptStream is the PCG stream of WorldPrompts ("geneval"), apart from
// the streams the trainers draw scenes from.
const genPromptStream = 0x67656e6576616c

// WorldPrompts writes n held-out prompts for judging the decoder direction
// (caption to image) and returns them with the scenes they describe: fresh
// scenes drawn from cfg's prior with a PCG seeded by (seed, a stream of its
// own), prompts at even indices their full captions (Oracle), at odd ones
// partial captions that describe every object but drop each attribute
// independently (size and position with probability 0.5, colour and shape
// 0.25, never both: see Partial; the background 0.5). Prompts carry no BOS
// or EOS. The same cfg, n and seed give the same prompts. cfg must be valid
// (see Validate); n <= 0 gives none.
func WorldPrompts(cfg Config, n int, seed uint64) ([][]int, []Scene) {
	if n <= 0 {
		return nil, nil
	}
	rng := rand.New(rand.NewPCG(seed, genPromptStream))
	prompts, scenes := make([][]int, n), make([]Scene, n)
	for i := range n {
		scenes[i] = cfg.Sample(rng)
		prompts[i] = genPrompt(i, scenes[i], rng)
	}
	return prompts, scenes
}

// PromptsFor writes a prompt for each of the given scenes as WorldPrompts does (even indices
// the full description, odd ones a partial one drawn from a PCG seeded by (seed, the prompts'
// stream)): a held-out set's scenes become the prompts, so that drawing is judged on
// descriptions of the set's own split (SplitOf) and prompt i goes with scene i.
func PromptsFor(scenes []Scene, seed uint64) [][]int {
	rng := rand.New(rand.NewPCG(seed, genPromptStream))
	prompts := make([][]int, len(scenes))
	for i, s := range scenes {
		prompts[i] = genPrompt(i, s, rng)
	}
	return prompts
}

// genPrompt is prompt i of WorldPrompts and PromptsFor for scene s.
func genPrompt(i int, s Scene, rng *rand.Rand) []int {
	if i%2 == 0 {
		return Oracle(s)
	}
	return Partial(s, genPromptOptions(), rng)
}
