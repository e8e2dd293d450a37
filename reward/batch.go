package reward

import (
	"fmt"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/vec"
)

// BatchEmbedder is an Embedder that embeds many images in few passes (the Hugging Face encoders
// of models/hf/vit: all the images of a step in as few forward passes as their batch allows).
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
// of recs belongs to source r/G. Under each embedder the B sources and the B*G reconstructions
// are embedded in one EmbedAll call, so each source is embedded once per call and reused for its
// G reconstructions, and a batched encoder sees all the step's images at once. It returns each
// row's mean similarity over the embedders and each embedder's similarity [N][K].
func Score(es []Embedder, src []images.Planar, G int, recs []images.Planar) (reward []float64, parts [][]float64, err error) {
	if G < 1 || len(recs) != len(src)*G {
		return nil, nil, fmt.Errorf("reward: %d reconstructions for %d images x G=%d", len(recs), len(src), G)
	}
	all := append(append(make([]images.Planar, 0, len(src)+len(recs)), src...), recs...)
	parts = make([][]float64, len(recs))
	for i := range parts {
		parts[i] = make([]float64, len(es))
	}
	for k, e := range es {
		embs, err := EmbedAll(e, all)
		if err != nil {
			return nil, nil, err
		}
		srcEmb, recEmb := embs[:len(src)], embs[len(src):]
		for i := range recs {
			parts[i][k] = vec.Cosine(srcEmb[i/G], recEmb[i])
		}
	}
	reward = make([]float64, len(recs))
	for i := range reward {
		reward[i] = vec.Mean(parts[i])
	}
	return reward, parts, nil
}
