package reward

import (
	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/vec"
)

// Embedder maps an image to a fixed-length, L2-normalised vector, in the roles CLIP and DINO play
// in the paper. Implementations are frozen (never trained); the world's embedders (world/embed)
// are safe for concurrent use, the Hugging Face encoders run on libtorch from one goroutine.
type Embedder interface {
	// Name is the short name used on the command line and in tables.
	Name() string
	// Dim is the length of the embedding.
	Dim() int
	// Embed returns the embedding of im. An image that is not a well-formed 3-channel image
	// embeds to the zero vector.
	Embed(im images.Planar) []float32
}

// Similarities returns the cosine similarity of the reconstruction's embedding with each source
// embedding srcEmb[k] of embedder es[k], and their mean: the reward of Unified-GRPO and the
// Overall of Unified-Bench for one image.
func Similarities(es []Embedder, srcEmb [][]float32, rec images.Planar) (mean float64, parts []float64) {
	parts = make([]float64, len(es))
	for k, e := range es {
		parts[k] = vec.Cosine(srcEmb[k], e.Embed(rec))
	}
	return vec.Mean(parts), parts
}

// Embeddings returns the embedding of im under each embedder.
func Embeddings(es []Embedder, im images.Planar) [][]float32 {
	out := make([][]float32, len(es))
	for k, e := range es {
		out[k] = e.Embed(im)
	}
	return out
}

// MeanReward returns the mean over embedders of the cosine similarity of the source's and the
// reconstruction's embeddings (the paper's "Overall" score); 0 for none.
func MeanReward(es []Embedder, src, rec images.Planar) float64 {
	m, _ := Similarities(es, Embeddings(es, src), rec)
	return m
}

// Compare scores reconstructions against their sources under the embedders es (Score, whose
// errors come only from a failing libtorch encoder, as Embed's panics do): row r of recs belongs
// to source r/G, whose embeddings are computed once for its G rows. It returns each row's mean
// similarity over the embedders and each embedder's similarity [N][K].
func Compare(es []Embedder, src []images.Planar, G int, recs []images.Planar) (reward []float64, parts [][]float64) {
	reward, parts, err := Score(es, src, G, recs)
	if err != nil {
		panic(err.Error())
	}
	return reward, parts
}
