package reward

import (
	"fmt"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/vec"
)

// BatchEmbedder is an Embedder that embeds many images in few passes (the Hugging Face encoders
// of models/hf/vit, up to their batch a forward pass).
// Its features equal Embed's, image by image, up to float rounding.
type BatchEmbedder interface {
	Embedder
	EmbedBatch(ims []images.Planar) ([][]float32, error)
}

// EmbedAll returns the embedding of every image under e: in batches when e is a BatchEmbedder,
// else one image at a time.
func EmbedAll(e Embedder, ims []images.Planar) ([][]float32, error) {
	if be, ok := e.(BatchEmbedder); ok {
		out, err := be.EmbedBatch(ims)
		if err != nil {
			return nil, fmt.Errorf("embedder %s: %w", e.Name(), err)
		}
		if len(out) != len(ims) {
			return nil, fmt.Errorf("embedder %s: %d embeddings for %d images", e.Name(), len(out), len(ims))
		}
		return out, nil
	}
	out := make([][]float32, len(ims))
	for i, im := range ims {
		out[i] = e.Embed(im)
	}
	return out, nil
}

// Score scores reconstructions against their sources under the embedders es, as Compare: row r
// of recs belongs to source r/G. Under each embedder each source is embedded once, in one
// EmbedAll call with its G reconstructions: a batched encoder runs a step's images in B passes
// of 1+G images instead of B*G+B passes of one. A pass holds one source's group and nothing else
// so that its shape, and with it every float of the features, does not depend on how a step's
// images are split over ranks (a matrix product's rounding may depend on its number of rows:
// 1 and 2 ranks must give the same rewards). It returns each row's mean similarity over the
// embedders and each embedder's similarity [N][K].
func Score(es []Embedder, src []images.Planar, G int, recs []images.Planar) (reward []float64, parts [][]float64, err error) {
	if G < 1 || len(recs) != len(src)*G {
		return nil, nil, fmt.Errorf("reward: %d reconstructions for %d images x G=%d", len(recs), len(src), G)
	}
	parts = make([][]float64, len(recs))
	for i := range parts {
		parts[i] = make([]float64, len(es))
	}
	group := make([]images.Planar, 1+G)
	for b := range src {
		group[0] = src[b]
		copy(group[1:], recs[b*G:(b+1)*G])
		for k, e := range es {
			embs, err := EmbedAll(e, group)
			if err != nil {
				return nil, nil, err
			}
			for g := range G {
				parts[b*G+g][k] = vec.Cosine(embs[0], embs[1+g])
			}
		}
	}
	reward = make([]float64, len(recs))
	for i := range reward {
		reward[i] = vec.Mean(parts[i])
	}
	return reward, parts, nil
}
