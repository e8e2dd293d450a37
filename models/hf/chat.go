package hf

import "fmt"

// The families' chat formats: the text of one user turn, ending where the assistant's answer
// starts, as the family's chat template renders a single user message with the generation
// prompt (and no system turn).

// chatML is the format of Qwen's templates: <|im_start|>role\n ... <|im_end|>\n.
func chatML(msg string) string {
	return "<|im_start|>user\n" + msg + "<|im_end|>\n<|im_start|>assistant\n"
}

// qwenVisionPlaceholder is how Qwen2.5-VL's template writes an image in a turn; its processor
// expands the <|image_pad|> to the image's tokens.
const qwenVisionPlaceholder = "<|vision_start|><|image_pad|><|vision_end|>"

// ChatPrompt wraps a user message in the chat format of a model_type for one turn, ending where
// the assistant's answer starts: ChatML for Qwen2 and Qwen2.5-VL (qwen2, qwen2_5_vl), the header
// format of Llama 3 (llama). Another model_type is an error naming it.
func ChatPrompt(family, msg string) (string, error) {
	switch family {
	case "qwen2", "qwen2_5_vl":
		return chatML(msg), nil
	case "llama":
		return "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n" + msg + "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", nil
	}
	return "", fmt.Errorf("no chat format for model_type %s", family)
}

// ImageChatPrompt is ChatPrompt of a turn that shows one image, then msg: for Qwen2.5-VL
// (qwen2_5_vl) the image is its vision placeholder, which its processor expands to the image's
// tokens. Another model_type is an error naming it.
func ImageChatPrompt(family, msg string) (string, error) {
	if family != "qwen2_5_vl" {
		return "", fmt.Errorf("no chat format with an image for model_type %s", family)
	}
	return chatML(qwenVisionPlaceholder + msg), nil
}

// ChatEnd is the token that ends an assistant turn in the family's chat format: Llama 3's
// <|eot_id|>, else ChatML's <|im_end|>.
func ChatEnd(family string) string {
	if family == "llama" {
		return "<|eot_id|>"
	}
	return "<|im_end|>"
}
