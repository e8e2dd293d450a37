package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/models/caption"
	"github.com/unigrpo/unigrpo/models/hf"
	"github.com/unigrpo/unigrpo/trainer"
)

// runGenerate continues a prompt with a Hugging Face language model: the first thing to run after
// pointing the trainer at a downloaded checkpoint, and a cross-check against other
// implementations (--ids prints the token ids).
func runGenerate(args []string) error {
	fs := newFlags("generate", "--policy [hf:]DIR --prompt TEXT [flags]")
	dir := fs.String("policy", "", "a Hugging Face model folder (config.json, safetensors, tokenizer.json) of a llama or qwen2 model")
	prompt := fs.String("prompt", "", "the text to continue, encoded as the tokenizer's post-processor says (with --chat: as one user turn)")
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
		return usagef("generate: --policy %s: not a Hugging Face model folder (no config.json with a model_type)", path)
	}
	kind, err := parseDType(*dtype)
	if err != nil {
		return err
	}
	dev, err := trainer.ParseDevice(*device, 0)
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := openHFText(path, *prompt, *chat)
	if err != nil {
		return err
	}
	p, err := hf.NewTextPolicy(path, dev, kind, h.prompt, h.stop, h.text, *maxNew, false)
	if err != nil {
		return err
	}
	defer p.Close()
	opt := caption.SampleOptions{Greedy: *temp == 0, Temperature: *temp}
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
