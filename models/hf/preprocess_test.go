package hf

import (
	"reflect"
	"strings"
	"testing"
)

// Decode keeps the default for an absent or null field and takes a given one, as encoding/json
// fills a struct field; the first error (a wrong type, image_std of two values) is kept and the
// reads after it leave their defaults. (Oracle: encoding/json's documented decoding.)
func TestPreprocessorConfigDecode(t *testing.T) {
	pc := ParsePreprocessorConfig([]byte(`{"resample": 2, "do_resize": null, "Merge_Size": 4, "image_mean": 0.5}`))
	resample, resize, merge, patch := 3, true, 2, 14
	pc.Decode("resample", &resample)
	pc.Decode("do_resize", &resize)
	pc.Decode("merge_size", &merge)
	pc.Decode("patch_size", &patch)
	mean := pc.Channels("image_mean", nil)
	std := pc.Channels("image_std", []float32{1, 2, 3})
	if err := pc.Err(); err != nil {
		t.Fatal(err)
	}
	if resample != 2 || !resize || merge != 4 || patch != 14 || !reflect.DeepEqual(mean, []float32{0.5, 0.5, 0.5}) || !reflect.DeepEqual(std, []float32{1, 2, 3}) {
		t.Errorf("read resample %d, do_resize %v, merge_size %d, patch_size %d, mean %v, std %v", resample, resize, merge, patch, mean, std)
	}

	pc = ParsePreprocessorConfig([]byte(`{"resample": "bicubic", "patch_size": 8}`))
	pc.Decode("resample", &resample)
	pc.Decode("patch_size", &patch)
	if err := pc.Err(); err == nil || !strings.Contains(err.Error(), "resample") || patch != 14 {
		t.Errorf("a string resample: error %v, patch_size %d after it", err, patch)
	}
	pc = ParsePreprocessorConfig([]byte(`{"image_std": [1, 2]}`))
	if pc.Channels("image_std", nil); pc.Err() == nil || !strings.Contains(pc.Err().Error(), "image_std [1, 2]") {
		t.Errorf("image_std of two values: error %v", pc.Err())
	}
	pc = ParsePreprocessorConfig([]byte(`not json`))
	if pc.Decode("resample", &resample); pc.Err() == nil {
		t.Error("a file that is not JSON read without error")
	}
	if got := ProcessorClass("CLIPImageProcessorFast"); got != "CLIPImageProcessor" {
		t.Errorf("ProcessorClass: %q", got)
	}
}
