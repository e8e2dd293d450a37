// Package images reads a user's images for training and evaluation: a folder of PNG, JPEG or WebP
// files, or a JSON-lines manifest that names them (with optional reference captions); it splits
// them into training and held-out sets by a hash of each name, and decodes and fits one image to
// a model's square input. It knows nothing of models or libtorch.
package images

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Item is one image of a set.
type Item struct {
	// Name identifies the image in the set: its path relative to the folder or manifest, with
	// forward slashes. The held-out split and pairing across folders use it.
	Name string
	// Path is where the file is.
	Path string
	// Caption is the manifest's reference caption, if any.
	Caption string
}

// extensions are the file name endings List takes from a folder (compared in lower case).
var extensions = []string{".png", ".jpg", ".jpeg", ".webp"}

// List returns the images of path: every PNG, JPEG or WebP file below a folder (recursively,
// sorted by name; other files are ignored), or the lines of a manifest file, one JSON object per
// line, {"image": "path", "caption": "optional"}, with relative paths taken from the manifest's
// folder (blank lines are skipped). An empty set, a manifest line without "image" or a missing
// file is an error that names the place to fix.
func List(path string) ([]Item, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	var items []Item
	if st.IsDir() {
		items, err = listFolder(path)
	} else {
		items, err = readManifest(path)
	}
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		if st.IsDir() {
			return nil, fmt.Errorf("images: %s holds no .png, .jpg, .jpeg or .webp file", path)
		}
		return nil, fmt.Errorf("images: manifest %s lists no image", path)
	}
	return items, nil
}

func listFolder(dir string) ([]Item, error) {
	var items []Item
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !slices.Contains(extensions, strings.ToLower(filepath.Ext(p))) {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		items = append(items, Item{Name: filepath.ToSlash(rel), Path: p})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("images: reading %s: %w", dir, err)
	}
	slices.SortFunc(items, func(a, b Item) int { return strings.Compare(a.Name, b.Name) })
	return items, nil
}

// manifestLine is one line of a manifest.
type manifestLine struct {
	Image   *string `json:"image"`
	Caption string  `json:"caption"`
}

func readManifest(path string) ([]Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	defer f.Close()
	base := filepath.Dir(path)
	var items []Item
	seen := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var ml manifestLine
		if err := json.Unmarshal([]byte(line), &ml); err != nil {
			return nil, fmt.Errorf("images: %s line %d is not a JSON object: %v", path, n, err)
		}
		if ml.Image == nil || *ml.Image == "" {
			return nil, fmt.Errorf(`images: %s line %d has no "image" (want {"image": "path", "caption": "optional"})`, path, n)
		}
		name := filepath.ToSlash(filepath.Clean(*ml.Image))
		if first, dup := seen[name]; dup {
			return nil, fmt.Errorf("images: %s line %d names %s again (first on line %d)", path, n, name, first)
		}
		seen[name] = n
		p := *ml.Image
		if !filepath.IsAbs(p) {
			p = filepath.Join(base, p)
		}
		if _, err := os.Stat(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("images: %s line %d: %s does not exist", path, n, p)
			}
			return nil, fmt.Errorf("images: %s line %d: %w", path, n, err)
		}
		items = append(items, Item{Name: name, Path: p, Caption: ml.Caption})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("images: reading %s: %w", path, err)
	}
	return items, nil
}
