package images

import (
	"errors"
	"fmt"

	"github.com/unigrpo/unigrpo/internal/stream"
)

// Set is a fixed set of images for evaluation, with what is known about them.
type Set struct {
	Names  []string
	Images []Planar
	// Labels holds one label per image for a judge of understanding (the world's scenes); nil
	// when the images carry none (files).
	Labels []any
	// Captions holds one reference caption per image (a manifest's captions, the world's full
	// descriptions); nil unless every image has one.
	Captions []string
}

// Folder is a source of training images read from a folder or manifest of files. Image i of step
// s is drawn from the training split by the stream keyed (seed, Image, s, i), so which image a row
// sees does not depend on how the batch is split over ranks. Files are decoded when first drawn,
// within a pixel budget, fitted to the policy's square input and kept in a bounded cache.
type Folder struct {
	Path        string
	train, held []Item
	share       float64
	size        int
	maxPixels   int       // the pixel budget of one file (LoadWithin)
	cache       *fitCache // fitted images by path, bounded by DefaultCacheBytes
	// skipBad skips a file that cannot be decoded (drawing again from the row's stream) instead
	// of stopping; skipped counts them until TakeSkipped.
	skipBad bool
	bad     map[string]bool
	skipped int
}

// OpenFolder lists and splits path (Open) for a policy whose input is size x size pixels.
// heldOut is the share kept out of training by a hash of each name; with skipBad an unreadable
// image, or one over maxPixels pixels (0: DefaultMaxPixels), is skipped and counted instead of
// stopping the run.
func OpenFolder(path string, heldOut float64, size int, skipBad bool, maxPixels int) (*Folder, error) {
	train, held, err := Open(path, heldOut)
	if err != nil {
		return nil, err
	}
	return &Folder{Path: path, train: train, held: held, share: heldOut, size: size, maxPixels: maxPixels,
		cache: newFitCache(DefaultCacheBytes), skipBad: skipBad, bad: map[string]bool{}}, nil
}

// load returns the fitted image of a file, from the cache when it was fitted before.
func (f *Folder) load(path string) (Square, error) {
	if sq, ok := f.cache.get(path); ok {
		return sq, nil
	}
	sq, err := LoadWithin(path, f.size, f.maxPixels)
	if err != nil {
		return Square{}, err
	}
	f.cache.put(path, sq)
	return sq, nil
}

// Sizes returns the number of training and held-out files.
func (f *Folder) Sizes() (train, held int) { return len(f.train), len(f.held) }

// Images returns the training images of global indices [lo, hi) of a step.
func (f *Folder) Images(seed uint64, step, lo, hi int) ([]Planar, error) {
	out := make([]Planar, hi-lo)
	for i := range out {
		rng := stream.RNG(seed, stream.Image, step, lo+i)
		for tries := 0; ; tries++ {
			it := f.train[rng.IntN(len(f.train))]
			if f.bad[it.Path] {
				continue
			}
			sq, err := f.load(it.Path)
			if err == nil {
				out[i] = sq.Planar()
				break
			}
			if !f.skipBad {
				return nil, fmt.Errorf("%w (--skip-bad-images skips and counts such files)", err)
			}
			f.bad[it.Path] = true
			f.skipped++
			if len(f.bad) == len(f.train) {
				return nil, fmt.Errorf("images: no training image of %s is readable (%d skipped)", f.Path, len(f.bad))
			}
		}
	}
	return out, nil
}

// TakeSkipped returns how many unreadable files were skipped since the last call.
func (f *Folder) TakeSkipped() int {
	n := f.skipped
	f.skipped = 0
	return n
}

// ErrNoHeldOut is HeldOut's error for a folder too small to hold any file out at its share.
var ErrNoHeldOut = errors.New("no held-out images")

// HeldOut returns the first n images of the held-out split by name (all files when the share
// is 0), with the manifest's captions when every one has one. The seed is not used: the set is
// fixed by the files.
func (f *Folder) HeldOut(_ uint64, n int) (*Set, error) {
	items := f.held
	if f.share == 0 {
		items = append(append([]Item(nil), f.train...), f.held...)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("images: no file of %s falls in the held-out share %v: %w", f.Path, f.share, ErrNoHeldOut)
	}
	items = items[:min(n, len(items))]
	s := &Set{Captions: []string{}}
	for _, it := range items {
		sq, err := f.load(it.Path)
		if err != nil {
			return nil, err
		}
		s.Names = append(s.Names, it.Name)
		s.Images = append(s.Images, sq.Planar())
		if s.Captions != nil && it.Caption != "" {
			s.Captions = append(s.Captions, it.Caption)
		} else {
			s.Captions = nil
		}
	}
	return s, nil
}
