package janus

import (
	"reflect"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
)

// Unconditional keeps BOS and <begin_of_image> only; drawing (DrawCodes, DecodeImages) depends
// only on its generators (and is repeatable greedily), returns images of the tower's side with
// values in [0, 1], and draws GenerateImageCodes' codes; a folder whose tokenizer grid is not the
// grid the model draws is refused. (Oracles: determinism and the documented ranges.)
func TestJanusPolicyDraw(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p := openJanusPolicy(t, writeJanusPolicyFolder(t, 15))
	if got := p.Unconditional([]int{1, 5, 1, 6, jpBOI, 7, jpBOI}); !reflect.DeepEqual(got, []int{1, 0, 1, 0, jpBOI, 0, jpBOI}) {
		t.Errorf("Unconditional: %v", got)
	}
	prompts := [][]int{{1, 5, 6, jpBOI}, {1, 7, jpBOI}}
	o := ImageGenOptions{Scale: 3, Temperature: 1}
	draw := func(seed uint64) ([][]int, []images.Planar) {
		codes, _, err := p.DrawCodes(prompts, o, jpRngs(2, seed))
		if err != nil {
			t.Fatal(err)
		}
		ims, err := p.DecodeImages(codes)
		if err != nil {
			t.Fatal(err)
		}
		return codes, ims
	}
	drawn, x := draw(1)
	_, y := draw(1)
	codes, _ := p.Model.GenerateImageCodes(prompts, o, jpRngs(2, 1))
	if !reflect.DeepEqual(x, y) || !reflect.DeepEqual(drawn, codes) {
		t.Error("drawings with the same generators differ, or DrawCodes differs from GenerateImageCodes")
	}
	other, _ := p.Model.GenerateImageCodes(prompts, o, jpRngs(2, 2))
	if reflect.DeepEqual(codes, other) {
		t.Error("different generators drew the same codes")
	}
	for i, im := range x {
		if im.C != 3 || im.H != 32 || im.W != 32 {
			t.Fatalf("drawing %d is %dx%dx%d", i, im.C, im.H, im.W)
		}
		for _, v := range im.Pix {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("drawing %d has the value %v", i, v)
			}
		}
	}
	g := ImageGenOptions{Scale: 3, Greedy: true}
	g1, _ := p.Model.GenerateImageCodes(prompts, g, nil)
	g2, _ := p.Model.GenerateImageCodes(prompts, g, nil)
	if !reflect.DeepEqual(g1, g2) {
		t.Errorf("greedy codes %v then %v", g1, g2)
	}
	// The reference fixture's VQ-VAE halves 32 once (16 x 16 codes) but it draws 4 x 4.
	if bad, err := OpenPolicy(janusDir, gotch.CPU); err == nil {
		bad.Close()
		t.Error("a folder whose tokenizer grid is not its generation grid was opened")
	}
}
