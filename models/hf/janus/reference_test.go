package janus

import (
	"reflect"
	"testing"

	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
)

// Understanding: the vision tower + aligner, the decoder's final hidden states and lm_head's
// logits on two left-padded rows, each with an image, equal the reference's.
func TestJanusUnderstandingMatchesReference(t *testing.T) {
	forEachJanusFixture(t, func(t *testing.T, m *Model, f *janusFixture) {
		a := raw.New(-1)
		defer a.Free()
		px, _ := f.floats(t, a, "pixel_values")
		feats := m.ImageFeatures(a, px)
		_, want := f.floats(t, a, "image_embeds")
		janusCheck(t, a, "image_embeds", feats, want)
		in := Batch{IDs: f.ints(t, "input_ids"), Mask: f.ints(t, "attention_mask"), Pos: f.ints(t, "position_ids")}
		h, err := m.forward(a, in, feats, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, want = f.floats(t, a, "hidden")
		janusCheck(t, a, "hidden", h, want)
		_, want = f.floats(t, a, "logits")
		janusCheck(t, a, "logits", m.textLogits(a, h), want)
	})
}

// The generation path: a batch mixing text, an image's placeholders and generated codes gives
// the reference's hidden states and generation_head logits.
func TestJanusGenerationPathMatchesReference(t *testing.T) {
	forEachJanusFixture(t, func(t *testing.T, m *Model, f *janusFixture) {
		a := raw.New(-1)
		defer a.Free()
		px, _ := f.floats(t, a, "pixel_values")
		feats := m.ImageFeatures(a, a.Narrow(px, 0, 0, 1))
		in := Batch{IDs: f.ints(t, "gen_input_ids"), Codes: f.ints(t, "gen_codes"),
			Mask: f.ints(t, "gen_attention_mask"), Pos: f.ints(t, "gen_position_ids")}
		h, err := m.forward(a, in, feats, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, want := f.floats(t, a, "gen_hidden")
		janusCheck(t, a, "gen_hidden", h, want)
		_, want = f.floats(t, a, "gen_image_logits")
		janusCheck(t, a, "gen_image_logits", m.imageLogits(a, h), want)
	})
}

// Guided generation (greedy, scale 5, cached decoding) gives the reference's codes exactly; the
// VQ-VAE decodes them to its pixels and encodes those pixels to its codes.
func TestJanusGuidedGenerationMatchesReference(t *testing.T) {
	forEachJanusFixture(t, func(t *testing.T, m *Model, f *janusFixture) {
		ids, mask := f.ints(t, "cfg_input_ids"), f.ints(t, "cfg_attention_mask")
		prompts := unpad(ids, mask)
		codes, err := m.GenerateImageCodes(prompts, ImageGenOptions{Scale: 5, Greedy: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := f.ints(t, "cfg_codes"); !reflect.DeepEqual(codes, want) {
			t.Fatalf("guided codes\n  Go        %v\n  reference %v", codes, want)
		}
		pix, err := m.DecodeCodes(codes)
		if err != nil {
			t.Fatal(err)
		}
		a := raw.New(-1)
		defer a.Free()
		_, want := f.floats(t, a, "cfg_pixels")
		janusCheckValues(t, "decoded pixels", pix, want)
		enc, err := m.EncodeCodes(want, len(codes))
		if err != nil {
			t.Fatal(err)
		}
		if w := f.ints(t, "vq_codes"); !reflect.DeepEqual(enc, w) {
			t.Errorf("VQ codes of the decoded pixels\n  Go        %v\n  reference %v", enc, w)
		}
		// A prompt that does not end with <begin_of_image> is refused.
		if _, err := m.GenerateImageCodes([][]int{{1, 5}}, ImageGenOptions{Scale: 5, Greedy: true}, nil); err == nil {
			t.Error("a prompt without <begin_of_image> at its end was accepted")
		}
	})
}

// Greedy text generation with images (cached decoding, left padding) gives the reference's
// tokens.
func TestJanusGenerateTextMatchesReference(t *testing.T) {
	forEachJanusFixture(t, func(t *testing.T, m *Model, f *janusFixture) {
		a := raw.New(-1)
		defer a.Free()
		_, px := f.floats(t, a, "pixel_values")
		ids, mask := f.ints(t, "input_ids"), f.ints(t, "attention_mask")
		prompts := unpad(ids, mask)
		want := f.ints(t, "text_generate")
		got, err := m.GenerateText(prompts, px, hf.GenerateOptions{MaxNew: len(want[0])})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("greedy text\n  Go        %v\n  reference %v", got, want)
		}
	})
}

// janusCopy writes a copy of the fixture's folder to a temporary one, its tensors edited.
