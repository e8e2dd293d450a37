package embed

import (
	"fmt"
	"strings"

	"github.com/unigrpo/unigrpo/reward"
	"github.com/unigrpo/unigrpo/world"
)

// Names returns the embedders' names, in the order All returns them:
//
//	conv    frozen random conv net (the CLIP-like generalist)
//	colour  pooled colours per cell (colour, position, size)
//	edge    gradient-orientation histograms (shape, position, size)
func Names() []string { return []string{"conv", "colour", "edge"} }

// newExtractor returns the raw feature extractor of a named embedder.
func newExtractor(name string) (extractor, bool) {
	switch name {
	case "conv":
		return newConvNet(), true
	case "colour":
		return newColours(), true
	case "edge":
		return edges{}, true
	}
	return nil, false
}

// New returns one embedder by name (see Names) for the world cfg.
func New(cfg world.Config, name string) (reward.Embedder, error) {
	if strings.Contains(name, ",") {
		return nil, fmt.Errorf("embedder %q: give one name; use ByNames for a list", name)
	}
	es, err := ByNames(cfg, name)
	if err != nil {
		return nil, err
	}
	return es[0], nil
}

// All returns every embedder for the world cfg, centred on its prior scenes.
func All(cfg world.Config) ([]reward.Embedder, error) {
	return ByNames(cfg, strings.Join(Names(), ","))
}

// ByNames returns the embedders named in a comma-separated list such as
// "conv,edge", in that order, for the world cfg. Construction renders the
// prior scenes once and takes well under a second.
func ByNames(cfg world.Config, names string) ([]reward.Embedder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("embedders: %w", err)
	}
	var exs []extractor
	var picked []string
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		ex, ok := newExtractor(n)
		if !ok {
			return nil, fmt.Errorf("embedders: unknown embedder %q in %q: valid names are %s", n, names, strings.Join(Names(), ", "))
		}
		exs = append(exs, ex)
		picked = append(picked, n)
	}
	prior := priorImages(cfg)
	es := make([]reward.Embedder, len(exs))
	for i, ex := range exs {
		es[i] = newCentred(picked[i], ex, prior)
	}
	return es, nil
}
