package vit

import (
	"fmt"
	"image"

	"github.com/unigrpo/unigrpo/images"
)

// A Model is an image embedder for the reward and for Unified-Bench on image files
// (eval.ImageEmbedder): Embed preprocesses an image as the folder's preprocessor_config.json says
// (ImageProcessor), runs the model and returns its L2-normalised feature: CLIP's image_embeds
// (its pooler_output when the folder has no visual_projection), DINOv2's pooler_output (the class
// token after the final norm), SigLIP's pooler_output (the attention-pooling head). Like every
// libtorch model of the project, a Model is used from one goroutine locked to its OS thread.

// Name is the family's short name: clip, dinov2 or siglip.
func (v *Model) Name() string {
	switch v.cfg.ModelType {
	case "clip_vision_model":
		return "clip"
	case "siglip_vision_model":
		return "siglip"
	}
	return v.cfg.ModelType
}

// Size is the side of the square image Embed expects, so that images.Load(path, Size()) followed
// by Embed sees what transformers' processor keeps of the file: the processor's shortest edge
// when it resizes that way (its centre crop is then taken from the square: DINOv2 fits 256 and
// crops 224), else its resize height, else the model's image_size.
func (v *Model) Size() int {
	if v.pre != nil {
		if s := v.pre.FitSide(); s > 0 {
			return s
		}
	}
	return v.cfg.ImageSize
}

// Dim is the length of the feature Embed returns.
func (v *Model) Dim() int {
	if v.proj != nil {
		return v.cfg.Proj
	}
	return v.cfg.D
}

// Embed returns the L2-normalised feature of an 8-bit square image (eval.ImageEmbedder). An image
// whose pixels do not match its size embeds to the zero vector. The interface has no error: a
// folder without preprocessor_config.json or a libtorch failure panics (EmbedBatch returns them).
func (v *Model) Embed(sq images.Square) []float32 {
	if sq.Size < 1 || len(sq.RGB) != 3*sq.Size*sq.Size {
		return make([]float32, v.Dim())
	}
	out, err := v.EmbedBatch([]images.Square{sq})
	if err != nil {
		panic(fmt.Sprintf("hf: %s embedder: %v", v.Name(), err))
	}
	return out[0]
}

// EmbedBatch returns the L2-normalised features of several 8-bit square images, up to MaxBatch
// of them per forward pass.
func (v *Model) EmbedBatch(sqs []images.Square) ([][]float32, error) {
	ims := make([]rgb8, len(sqs))
	for i, sq := range sqs {
		if sq.Size < 1 || len(sq.RGB) != 3*sq.Size*sq.Size {
			return nil, fmt.Errorf("hf: image %d: %d bytes for a square of side %d", i, len(sq.RGB), sq.Size)
		}
		ims[i] = rgb8{w: sq.Size, h: sq.Size, pix: sq.RGB}
	}
	return v.embedRGB(ims)
}

// EmbedPlanar returns the L2-normalised features of float images (values in [0, 1], 3 channels,
// or 1 taken as grey), of any size: each is rounded to 8 bits (images.To8, as saving it as a PNG
// would) and preprocessed like a file.
func (v *Model) EmbedPlanar(ims []images.Planar) ([][]float32, error) {
	rgbs := make([]rgb8, len(ims))
	for i, im := range ims {
		pix, err := im.RGB8()
		if err != nil {
			return nil, fmt.Errorf("hf: image %d: %w", i, err)
		}
		rgbs[i] = rgb8{w: im.W, h: im.H, pix: pix}
	}
	return v.embedRGB(rgbs)
}

// EmbedImages returns the L2-normalised features of decoded image files of any shape, through
// exactly transformers' preprocessing of the file (no images.Fit first). Pixels are taken as
// 8-bit sRGB with transparency dropped, as images.Load does.
func (v *Model) EmbedImages(imgs []image.Image) ([][]float32, error) {
	rgbs := make([]rgb8, len(imgs))
	for i, img := range imgs {
		w, h, pix := images.RGB8(img)
		if w < 1 || h < 1 {
			return nil, fmt.Errorf("hf: image %d has no pixels", i)
		}
		rgbs[i] = rgb8{w: w, h: h, pix: pix}
	}
	return v.embedRGB(rgbs)
}

// rgb8 is an 8-bit RGB image, row-major, three bytes a pixel.
type rgb8 struct {
	w, h int
	pix  []uint8
}

// embedRGB preprocesses the images and embeds them, a chunk of images of one preprocessed side
// per forward pass.
func (v *Model) embedRGB(ims []rgb8) ([][]float32, error) {
	if v.pre == nil {
		return nil, fmt.Errorf("hf: the %s model folder has no preprocessor_config.json, which embedding images needs", v.cfg.ModelType)
	}
	type prepped struct {
		px   []float32
		side int
	}
	pre := make([]prepped, len(ims))
	for i, im := range ims {
		px, h, w, err := v.pre.Preprocess(im.w, im.h, im.pix)
		if err != nil {
			return nil, fmt.Errorf("hf: image %d: %w", i, err)
		}
		if h != w {
			return nil, fmt.Errorf("hf: image %d preprocesses to %dx%d: only square inputs are implemented", i, w, h)
		}
		pre[i] = prepped{px, h}
	}
	out := make([][]float32, len(ims))
	for start := 0; start < len(pre); {
		end := start + 1
		for end < len(pre) && end-start < v.MaxBatch() && pre[end].side == pre[start].side {
			end++
		}
		var px []float32
		for _, p := range pre[start:end] {
			px = append(px, p.px...)
		}
		feats, err := v.embedPixels(px, end-start)
		if err != nil {
			return nil, err
		}
		copy(out[start:end], feats)
		start = end
	}
	return out, nil
}
