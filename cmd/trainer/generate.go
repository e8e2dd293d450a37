package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/raw"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/models/hf/lm"
	"github.com/unigrpo/unigrpo/models/hf/qwenvl"
	"github.com/unigrpo/unigrpo/models/hf/tokenizer"
	"github.com/unigrpo/unigrpo/models/policy"
	"github.com/unigrpo/unigrpo/trainer"
)

// runGenerate continues a prompt with a Hugging Face language model: the first thing to run after
// pointing the trainer at a downloaded checkpoint, and a cross-check against other
// implementations (--ids prints the token ids).
func runGenerate(args []string) error {
	fs := newFlags("generate", "--policy [hf:]DIR --prompt TEXT [flags]")
	dir := fs.String("policy", "", "a Hugging Face model folder (config.json, safetensors, tokenizer.json) of a llama or qwen2 model")
	prompt := fs.String("prompt", "", "the text to continue, encoded as the tokenizer's post-processor says (with --chat: as one user turn)")
	imageFile := fs.String("image", "", "with a Qwen2.5-VL model: an image file (PNG, JPEG, WebP) the prompt's user turn shows before its text (the chat format is then implied)")
	chat := fs.Bool("chat", false, "wrap the prompt in the family's chat format (ChatML for qwen2, Llama 3's headers for llama)")
	maxNew := fs.Int("max-new", 32, "most new tokens")
	temp := fs.Float64("temperature", 0, "sample at this temperature (0: greedy, ties to the lowest id)")
	seed := fs.Uint64("seed", 1, "seed of the sampled tokens")
	ids := fs.Bool("ids", false, "print the new token ids as one JSON array instead of the text")
	dtype := fs.String("dtype", "float32", "float32 or bfloat16")
	device := fs.String("device", "cpu", "cpu, cuda or auto")
	if err := parse(fs, args); err != nil {
		return err
	}
	path := strings.TrimPrefix(*dir, "hf:")
	switch {
	case path == "" || *prompt == "":
		return usagef("generate: --policy and --prompt are required")
	case *maxNew < 1 || *temp < 0:
		return usagef("generate: --max-new must be positive and --temperature not negative")
	case modelDir(path) == "":
		return usagef("generate: --policy: %v", notModelFolder(path))
	}
	kind, err := parseDType(*dtype)
	if err != nil {
		return err
	}
	dev, err := trainer.ParseDevice(*device, 0, false)
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, typ := modelType(path); typ == "qwen2_5_vl" || *imageFile != "" {
		if typ != "qwen2_5_vl" {
			return usagef("generate: --image needs a vision-language model (qwen2_5_vl); %s is %s", path, typ)
		}
		if *temp != 0 {
			return usagef("generate: a Qwen2.5-VL model generates greedily here (no --temperature)")
		}
		return generateVL(path, *prompt, *imageFile, *maxNew, kind, dev, *ids)
	}
	h, err := openHFText(path, *prompt, *chat)
	if err != nil {
		return err
	}
	p, err := lm.NewTextPolicy(path, dev, kind, h.prompt, h.stop, h.text, *maxNew, false)
	if err != nil {
		return err
	}
	defer p.Close()
	opt := policy.SampleOptions{Greedy: *temp == 0, Temperature: *temp}
	var rngs []*rand.Rand
	if !opt.Greedy {
		rngs = []*rand.Rand{rand.New(rand.NewPCG(*seed, 0x9e3779b97f4a7c15))}
	}
	roll, err := p.Sample(make([]images.Planar, 1), 1, opt, rngs)
	if err != nil {
		return err
	}
	if *ids {
		js, _ := json.Marshal(roll.Tokens[0])
		fmt.Println(string(js))
		return nil
	}
	fmt.Println(h.text(roll.Tokens[0]))
	return nil
}

// generateVL continues a Qwen2.5-VL chat prompt holding the image file (if any) greedily, through
// the model's own image processor, as transformers' generate() does.
func generateVL(dir, prompt, imageFile string, maxNew int, kind raw.Kind, dev gotch.Device, printIDs bool) error {
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return err
	}
	proc, err := qwenvl.LoadImageProcessor(dir)
	if err != nil {
		return err
	}
	var pixels []float32
	var grids [][3]int
	text, err := hf.ChatPrompt("qwen2_5_vl", prompt)
	if err != nil {
		return err
	}
	if imageFile != "" {
		f, err := os.Open(imageFile)
		if err != nil {
			return usagef("generate: --image: %v", err)
		}
		img, _, err := images.Decode(f, imageFile, images.DefaultMaxPixels)
		f.Close()
		if err != nil {
			return usagef("generate: --image: %v", err)
		}
		px, grid, err := proc.Preprocess(images.RGB8(img))
		if err != nil {
			return err
		}
		pixels, grids = px, [][3]int{grid}
		if text, err = hf.ImageChatPrompt("qwen2_5_vl", prompt); err != nil {
			return err
		}
	}
	if text, err = proc.ExpandPrompt(text, grids); err != nil {
		return err
	}
	idsIn, err := tok.Encode(text, false)
	if err != nil {
		return err
	}
	m, err := qwenvl.Load(dir, dev, kind)
	if err != nil {
		return err
	}
	defer m.Close()
	out, err := m.Generate([]qwenvl.Prompt{{IDs: idsIn, Pixels: pixels, Grids: grids}}, hf.GenerateOptions{MaxNew: maxNew, Stop: m.Config().Text.EOSIDs()})
	if err != nil {
		return err
	}
	if printIDs {
		js, _ := json.Marshal(out[0])
		fmt.Println(string(js))
		return nil
	}
	s, err := tok.Decode(out[0], true)
	if err != nil {
		return err
	}
	fmt.Println(s)
	return nil
}
