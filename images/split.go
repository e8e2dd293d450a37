package images

import (
	"fmt"
	"hash/fnv"
	"math"
)

// Split divides items into a training set and a held-out set, keeping their order. An item is
// held out when the hash of its Name falls in the first heldOut share of the hash space: a file's
// side never changes when other files are added or removed, and training and evaluation never
// share a file.
func Split(items []Item, heldOut float64) (train, held []Item, err error) {
	if !(heldOut >= 0 && heldOut < 1) {
		return nil, nil, fmt.Errorf("images: held-out share %v: want a number in [0, 1)", heldOut)
	}
	for _, it := range items {
		if HeldOut(it.Name, heldOut) {
			held = append(held, it)
		} else {
			train = append(train, it)
		}
	}
	if len(train) == 0 {
		return nil, nil, fmt.Errorf("images: all %d images fell in the held-out share %v: lower it or add images", len(items), heldOut)
	}
	return train, held, nil
}

// Open lists the images of path (List) and splits them (Split): the one way training and
// evaluation read a folder or manifest, so that they agree on which files are held out.
func Open(path string, heldOut float64) (train, held []Item, err error) {
	items, err := List(path)
	if err != nil {
		return nil, nil, err
	}
	return Split(items, heldOut)
}

// HeldOut reports whether the image called name belongs to the held-out share.
func HeldOut(name string, share float64) bool {
	h := fnv.New64a()
	h.Write([]byte("unigrpo/images/split\x00" + name))
	return float64(h.Sum64()) < share*math.Exp2(64)
}
