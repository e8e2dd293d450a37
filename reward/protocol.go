// Package reward serves and calls the frozen reward of Unified-GRPO as a service, so that the
// decoder (a diffusion model in the user's Python, or the world's renderer) and the embedders can
// run in another process, on other GPUs, shared by every rank of a job.
//
// The protocol (version 1) is JSON over HTTP/1.1:
//
//	GET  /v1/info     -> {"protocol": 1, "embedders": ["clip", ...], "max_batch": 1024, "max_body_bytes": ...}
//	POST /v1/rewards  {"protocol": 1, "group": G, "images": [IMAGE, ...B], "captions": ["...", ...N],
//	                   "keys": [KEY, ...N], "hidden": [[float, ...D], ...N] (optional)}
//	               -> {"protocol": 1, "embedders": [...K], "rewards": [float, ...N], "parts": [[float, ...K], ...N]}
//
// Caption r (r = b*G + g) belongs to image b. IMAGE is {"png": base64} (8-bit RGB),
// {"f32": base64, "c": 3, "h": H, "w": W} (little-endian float32 values in [0, 1], channel-major:
// for images that 8 bits cannot hold exactly) or {"path": "/file/the/server/can/read"}. KEY is
// {"seed", "stream", "step", "index", "seed64"}: the key of the caption's random draws, and
// seed64 the same folded into one number for a generator that takes a plain seed. A reward is the
// mean over embedders of the cosine similarity between the source's and the reconstruction's
// embeddings; parts are the per-embedder similarities. An error is any non-2xx status with
// {"protocol": 1, "error": "what went wrong"}. Both sides check the protocol version and the
// batch limits.
package reward

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"math"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
)

// Protocol is the version of the protocol this package speaks.
const Protocol = 1

// Info is the answer to GET /v1/info.
type Info struct {
	Protocol     int      `json:"protocol"`
	Embedders    []string `json:"embedders"`
	MaxBatch     int      `json:"max_batch"`      // most captions per request
	MaxBodyBytes int64    `json:"max_body_bytes"` // largest request body accepted
}

// Image is a source image on the wire: exactly one of PNG, F32 (with C, H, W) or Path.
type Image struct {
	PNG  string `json:"png,omitempty"`
	F32  string `json:"f32,omitempty"`
	C    int    `json:"c,omitempty"`
	H    int    `json:"h,omitempty"`
	W    int    `json:"w,omitempty"`
	Path string `json:"path,omitempty"`
}

// Key is a caption's random key on the wire.
type Key struct {
	stream.Key
	Seed64 uint64 `json:"seed64"`
}

// Request is the body of POST /v1/rewards.
type Request struct {
	Protocol int         `json:"protocol"`
	Group    int         `json:"group"`
	Images   []Image     `json:"images"`
	Captions []string    `json:"captions"`
	Keys     []Key       `json:"keys"`
	Hidden   [][]float32 `json:"hidden,omitempty"`
}

// Response is the answer to POST /v1/rewards.
type Response struct {
	Protocol  int         `json:"protocol"`
	Embedders []string    `json:"embedders,omitempty"`
	Rewards   []float64   `json:"rewards,omitempty"`
	Parts     [][]float64 `json:"parts,omitempty"`
	Error     string      `json:"error,omitempty"`
}

// check reports what is wrong with a request's shape against a batch limit (0: none).
func (r *Request) check(maxBatch int) error {
	switch {
	case r.Protocol != Protocol:
		return fmt.Errorf("protocol %d: this side speaks protocol %d", r.Protocol, Protocol)
	case r.Group < 1:
		return fmt.Errorf("group %d: must be at least 1", r.Group)
	case len(r.Captions) != len(r.Images)*r.Group:
		return fmt.Errorf("%d captions for %d images x group %d", len(r.Captions), len(r.Images), r.Group)
	case len(r.Keys) != len(r.Captions):
		return fmt.Errorf("%d keys for %d captions", len(r.Keys), len(r.Captions))
	case r.Hidden != nil && len(r.Hidden) != len(r.Captions):
		return fmt.Errorf("%d hidden states for %d captions", len(r.Hidden), len(r.Captions))
	case maxBatch > 0 && len(r.Captions) > maxBatch:
		return fmt.Errorf("%d captions in one request; the service takes at most %d", len(r.Captions), maxBatch)
	}
	return nil
}

// RewardBound bounds the rewards and parts a client accepts: each is a cosine similarity (or a
// mean of them), which lies in [-1, 1]; the bound leaves room for float32 rounding. A service
// answering outside it computes something else, and its numbers would overflow the step's
// statistics (a reward of 1e160 turns reward_std into NaN), so the run stops naming the service.
const RewardBound = 1.001

// check reports what is wrong with an answer to a request of n captions.
func (r *Response) check(n int) error {
	if r.Protocol != Protocol {
		return fmt.Errorf("the service answered in protocol %d; this trainer speaks protocol %d", r.Protocol, Protocol)
	}
	if len(r.Rewards) != n || len(r.Parts) != n {
		return fmt.Errorf("the service answered %d rewards and %d parts for %d captions", len(r.Rewards), len(r.Parts), n)
	}
	for i, v := range r.Rewards {
		if !(math.Abs(v) <= RewardBound) { // NaN fails too
			return fmt.Errorf("the service answered reward %v for caption %d, outside [-%v, %v]: a reward is a mean of cosine similarities", v, i, RewardBound, RewardBound)
		}
		if len(r.Parts[i]) != len(r.Embedders) {
			return fmt.Errorf("the service answered %d parts for caption %d but names %d embedders", len(r.Parts[i]), i, len(r.Embedders))
		}
		for k, p := range r.Parts[i] {
			if !(math.Abs(p) <= RewardBound) {
				return fmt.Errorf("the service answered part %v (embedder %s) for caption %d, outside [-%v, %v]: a part is a cosine similarity", p, r.Embedders[k], i, RewardBound, RewardBound)
			}
		}
	}
	return nil
}

// EncodeImage puts an image on the wire: as a PNG when 8 bits hold it exactly, else as float32
// values, so that the service sees exactly the pixels the policy saw.
func EncodeImage(im images.Planar) (Image, error) {
	if !im.Valid() || im.C != 3 {
		return Image{}, fmt.Errorf("reward: a source image must have 3 channels (got %dx%dx%d)", im.C, im.H, im.W)
	}
	if im.Is8Bit() {
		var b bytes.Buffer
		rgba := im.ToRGBA(1)
		if err := png.Encode(&b, rgba); err != nil {
			return Image{}, err
		}
		return Image{PNG: base64.StdEncoding.EncodeToString(b.Bytes())}, nil
	}
	raw := make([]byte, 4*len(im.Pix))
	for i, v := range im.Pix {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return Image{F32: base64.StdEncoding.EncodeToString(raw), C: im.C, H: im.H, W: im.W}, nil
}

// DecodeImage reads an image off the wire within images.DefaultMaxPixels (DecodeImageWithin).
func DecodeImage(w Image, size int) (images.Planar, error) {
	return DecodeImageWithin(w, size, images.DefaultMaxPixels)
}

// DecodeImageWithin reads an image off the wire; a path is read from disk and fitted to size x
// size (size 0 refuses paths: a service reachable from other machines should not read files for
// them). An image of more than maxPixels pixels (0: images.DefaultMaxPixels) is refused from its
// header, before its pixels take memory.
func DecodeImageWithin(w Image, size, maxPixels int) (images.Planar, error) {
	if maxPixels <= 0 {
		maxPixels = images.DefaultMaxPixels
	}
	switch {
	case w.PNG != "" && w.F32 == "" && w.Path == "":
		data, err := base64.StdEncoding.DecodeString(w.PNG)
		if err != nil {
			return images.Planar{}, fmt.Errorf("png: %v", err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return images.Planar{}, fmt.Errorf("png: %v", err)
		}
		if err := images.CheckPixels("the png", cfg.Width, cfg.Height, maxPixels); err != nil {
			return images.Planar{}, err
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			return images.Planar{}, fmt.Errorf("png: %v", err)
		}
		return rgb(img), nil
	case w.F32 != "" && w.PNG == "" && w.Path == "":
		data, err := base64.StdEncoding.DecodeString(w.F32)
		if err != nil {
			return images.Planar{}, fmt.Errorf("f32: %v", err)
		}
		if w.C != 3 || w.H < 1 || w.W < 1 {
			return images.Planar{}, fmt.Errorf("f32: a %dx%dx%d image (want 3 channels and a positive size)", w.C, w.H, w.W)
		}
		// The budget bounds h*w before any product is taken: a product that wraps could
		// otherwise match a short body.
		if err := images.CheckPixels("the f32 image", w.W, w.H, maxPixels); err != nil {
			return images.Planar{}, err
		}
		if len(data) != 4*w.C*w.H*w.W {
			return images.Planar{}, fmt.Errorf("f32: %d bytes for a %dx%dx%d image (want 3 channels, 4 bytes a value)", len(data), w.C, w.H, w.W)
		}
		im := images.NewPlanar(w.C, w.H, w.W)
		for i := range im.Pix {
			v := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			if !(v >= 0 && v <= 1) {
				return images.Planar{}, fmt.Errorf("f32: value %d is %v, outside [0, 1]", i, v)
			}
			im.Pix[i] = v
		}
		return im, nil
	case w.Path != "" && w.PNG == "" && w.F32 == "":
		if size <= 0 {
			return images.Planar{}, fmt.Errorf("path %s: this service does not read files (start it with --allow-paths)", w.Path)
		}
		sq, err := images.LoadWithin(w.Path, size, maxPixels)
		if err != nil {
			return images.Planar{}, err
		}
		return sq.Planar(), nil
	}
	return images.Planar{}, fmt.Errorf(`an image needs exactly one of "png", "f32" or "path"`)
}

// rgb converts a decoded image to a float RGB image, dropping alpha but keeping the colour under
// it (as images.Fit does for files).
func rgb(img image.Image) images.Planar {
	return images.FromRGB8(images.RGB8(img))
}
