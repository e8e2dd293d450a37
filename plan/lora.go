package plan

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/unigrpo/unigrpo/models/hf/shape"
)

// loraProjection matches the weight of a decoder layer's projection, naming the projection.
var loraProjection = regexp.MustCompile(`layers\.\d+\.(?:self_attn|mlp)\.([a-z_]+)\.weight$`)

// loraValues is the number of adapter values of rank r on the targeted projections of the
// language model: r x (in + out) for each (A [r, in], B [out, r]).
func loraValues(m *shape.Model, r int, targets []string) (int64, error) {
	var n int64
	found := 0
	for _, t := range m.Tensors {
		if t.Part != shape.PartLM || len(t.Shape) != 2 {
			continue
		}
		if g := loraProjection.FindStringSubmatch(t.Name); g != nil && slices.Contains(targets, g[1]) {
			n += int64(r) * (t.Shape[0] + t.Shape[1])
			found++
		}
	}
	if found == 0 {
		return 0, fmt.Errorf("--lora-targets %v: no such projection in the %s model's language model", targets, m.Family)
	}
	return n, nil
}
