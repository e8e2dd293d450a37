package qwenvl

import (
	"testing"

	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/internal/hftest"
)

// The default side of a policy's images is 256 image tokens' worth, within the processor's pixel
// bounds. Oracles: Qwen2.5-VL-3B's preprocessor_config.json (patch 14, merge 2, min_pixels 3136,
// max_pixels 12845056: 448 px, 32 x 32 patches merged 2 x 2), and the fixture's (patch 8, merge 2,
// max_pixels 16384: 256 px would hold 65536, so smart_resize brings it to floor(128/16)*16 = 128
// px, 16 x 16 patches, 64 tokens), worked out by hand with transformers' smart_resize.
func TestDefaultSide(t *testing.T) {
	real3B := `{"min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2,
		"merge_size": 2, "image_processor_type": "Qwen2VLImageProcessor"}`
	p, err := parseImageProcessor(hf.ParsePreprocessorConfig([]byte(real3B)))
	if err != nil {
		t.Fatal(err)
	}
	if s := p.DefaultSide(); s != 448 {
		t.Errorf("Qwen2.5-VL-3B's processor: default side %d, want 448", s)
	}
	if n, err := p.Tokens(448, 448); n != 256 || err != nil {
		t.Errorf("Qwen2.5-VL-3B's processor: %d tokens at 448 px (%v), want 256", n, err)
	}
	fix, err := LoadImageProcessor(hftest.Dir(qwenVLFamily))
	if err != nil {
		t.Fatal(err)
	}
	if s := fix.DefaultSide(); s != 128 {
		t.Errorf("the fixture's processor: default side %d, want 128", s)
	}
	if n, err := fix.Tokens(128, 128); n != 64 || err != nil {
		t.Errorf("the fixture's processor: %d tokens at 128 px (%v), want 64", n, err)
	}
}
