package trainer

import (
	"fmt"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/models/world"
)

// folderSource serves GRPO's source images from a folder or manifest of image files instead of
// the world's scenes. Image i of step s is drawn from the training split by the stream keyed
// (seed, Image, s, i), so which image a row sees does not depend on how the batch is split over
// ranks. Files are decoded when drawn, fitted to the policy's square input.
type folderSource struct {
	train []images.Item
	held  int
	size  int
}

func newFolderSource(path string, heldOut float64, size int) (*folderSource, error) {
	train, held, err := images.Open(path, heldOut)
	if err != nil {
		return nil, fmt.Errorf("--images: %w", err)
	}
	return &folderSource{train: train, held: len(held), size: size}, nil
}

// images returns the images of global indices [lo, hi) of a step.
func (f *folderSource) images(seed uint64, step, lo, hi int) ([]world.Image, error) {
	out := make([]world.Image, hi-lo)
	for i := range out {
		it := f.train[stream.RNG(seed, stream.Image, step, lo+i).IntN(len(f.train))]
		sq, err := images.Load(it.Path, f.size)
		if err != nil {
			return nil, err
		}
		out[i] = world.FromRGB8(sq.Size, sq.Size, sq.RGB)
	}
	return out, nil
}
