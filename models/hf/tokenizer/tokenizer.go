// Package tokenizer reads Hugging Face tokenizer.json files of byte-level BPE tokenizers
// (GPT-2, Llama-3, Qwen2/2.5/3 families) and encodes and decodes text exactly as the Hugging
// Face tokenizers library does, in pure Go.
//
// Supported pieces of tokenizer.json (anything else is an error naming the file and field):
//
//   - model: BPE (vocab; merges as "a b" strings or ["a", "b"] pairs; ignore_merges; unk_token
//     and fuse_unk; no byte_fallback, no dropout, no continuing_subword_prefix or
//     end_of_word_suffix other than null or "");
//   - normalizer: null, NFC (also NFD, NFKC, NFKD), Sequence;
//   - pre_tokenizer: ByteLevel (add_prefix_space, use_regex), Split (Regex or String pattern;
//     behaviours Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous; invert),
//     Sequence. The split patterns of GPT-2, Llama-3 and Qwen2 are recognised and run by
//     hand-written scanners (they need lookahead, which Go's regexp lacks); another pattern
//     runs on Go's regexp when it has no lookaround;
//   - decoder: null, ByteLevel, Sequence;
//   - post_processor: null, ByteLevel, TemplateProcessing (single sequence), Sequence;
//   - added_tokens: matched in the raw text before normalisation (normalized ones in the
//     normalised text), leftmost and longest first, honouring single_word, lstrip and rstrip.
//
// truncation and padding are ignored (transformers sets them per call, not from the file).
// The chat template of tokenizer_config.json is kept as text; it is not interpreted.
//
// A Tokenizer is safe for concurrent use.
package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Tokenizer encodes text to token ids and decodes ids to text.
type Tokenizer struct {
	// Path is the tokenizer.json that was read.
	Path string
	// ConfigPath is the tokenizer_config.json that was read beside it, "" when there was none.
	ConfigPath string
	// Config holds the special-token settings of tokenizer_config.json.
	Config Config
	// ChatTemplate is the raw Jinja source of the chat template (from tokenizer_config.json,
	// or chat_template.jinja beside it), "" when there is none. It is not interpreted here.
	ChatTemplate string
	// ChatTemplates holds the named templates when tokenizer_config.json lists several
	// (ChatTemplate is then the one named "default", if any).
	ChatTemplates map[string]string

	model     *bpe
	idToToken []string // model vocabulary and added tokens by id ("" for holes)
	hasID     []bool
	added     map[string]int  // added token content -> id
	special   map[string]bool // contents of special added tokens (skipped by Decode with skipSpecial)
	rawAdded  *addedMatcher   // added tokens matched in the raw text (normalized: false)
	normAdded *addedMatcher   // added tokens matched in the normalised text (normalized: true)

	normalizer normalizer
	pre        preTokenizer
	post       postProcessor
	decoder    decoder
}

// Config is what this package reads from tokenizer_config.json.
type Config struct {
	BOSToken, EOSToken, PADToken, UNKToken string // "" when unset or null
	// AddBOSToken and AddEOSToken are add_bos_token and add_eos_token, nil when absent. They
	// are informative: Encode adds special tokens from tokenizer.json's post_processor only.
	AddBOSToken, AddEOSToken *bool
}

// Load reads a tokenizer.json, given as the file or as the folder that holds it, and the
// tokenizer_config.json (and chat_template.jinja) beside it when present.
func Load(path string) (*Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if st.IsDir() {
		path = filepath.Join(path, "tokenizer.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	t.Path = path
	dir := filepath.Dir(path)
	cfgPath := filepath.Join(dir, "tokenizer_config.json")
	if data, err := os.ReadFile(cfgPath); err == nil {
		if err := t.readConfig(data); err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", cfgPath, err)
		}
		t.ConfigPath = cfgPath
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if t.ChatTemplate == "" {
		jinja := filepath.Join(dir, "chat_template.jinja")
		if data, err := os.ReadFile(jinja); err == nil {
			t.ChatTemplate = string(data)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
	}
	return t, nil
}

// tokenizerJSON is the top level of tokenizer.json.
type tokenizerJSON struct {
	AddedTokens   []*addedToken   `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	Model         json.RawMessage `json:"model"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
}

type bpeJSON struct {
	Dropout                 *float64         `json:"dropout"`
	UnkToken                *string          `json:"unk_token"`
	ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string          `json:"end_of_word_suffix"`
	FuseUnk                 bool             `json:"fuse_unk"`
	ByteFallback            bool             `json:"byte_fallback"`
	IgnoreMerges            bool             `json:"ignore_merges"`
	Vocab                   map[string]int   `json:"vocab"`
	Merges                  *json.RawMessage `json:"merges"`
}

// maxTokenID bounds the ids a file may use (the id table is a slice); real vocabularies
// have a few hundred thousand tokens.
const maxTokenID = 1<<24 - 1

// parse builds a Tokenizer from the contents of a tokenizer.json; errors name the field.
func parse(data []byte) (*Tokenizer, error) {
	var tj tokenizerJSON
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, fmt.Errorf("not a valid tokenizer.json: %w", err)
	}
	if isNull(tj.Model) {
		return nil, errors.New("model is missing")
	}
	t := &Tokenizer{added: map[string]int{}, special: map[string]bool{}}
	var err error
	if t.model, err = parseBPE(tj.Model); err != nil {
		return nil, err
	}
	if !isNull(tj.Normalizer) {
		if t.normalizer, err = parseNormalizer(tj.Normalizer, "normalizer"); err != nil {
			return nil, err
		}
	}
	if !isNull(tj.PreTokenizer) {
		if t.pre, err = parsePreTokenizer(tj.PreTokenizer, "pre_tokenizer"); err != nil {
			return nil, err
		}
	}
	if !isNull(tj.PostProcessor) {
		if t.post, err = parsePostProcessor(tj.PostProcessor, "post_processor"); err != nil {
			return nil, err
		}
	}
	if !isNull(tj.Decoder) {
		if t.decoder, err = parseDecoder(tj.Decoder, "decoder"); err != nil {
			return nil, err
		}
	}

	// the id table: model vocabulary, then added tokens (which win where both have an id)
	maxID := -1
	for _, id := range t.model.vocab {
		maxID = max(maxID, int(id))
	}
	var rawTokens, normTokens []*addedToken
	for i, at := range tj.AddedTokens {
		if at == nil {
			return nil, fmt.Errorf("added_tokens[%d] is null", i)
		}
		if at.ID < 0 || at.ID > maxTokenID {
			return nil, fmt.Errorf("added_tokens[%d].id %d is out of range", i, at.ID)
		}
		if at.Content == "" {
			return nil, fmt.Errorf("added_tokens[%d].content is empty", i)
		}
		maxID = max(maxID, at.ID)
		at.match = at.Content
		if at.Normalized {
			if t.normalizer != nil {
				at.match = t.normalizer.normalize(at.Content)
			}
			normTokens = append(normTokens, at)
		} else {
			rawTokens = append(rawTokens, at)
		}
		t.added[at.Content] = at.ID
		if at.Special {
			t.special[at.Content] = true
		}
	}
	t.idToToken = make([]string, maxID+1)
	t.hasID = make([]bool, maxID+1)
	for tok, id := range t.model.vocab {
		t.idToToken[id], t.hasID[id] = tok, true
	}
	for _, at := range tj.AddedTokens {
		// a normalized token decodes to its normalised form, as in Hugging Face
		t.idToToken[at.ID], t.hasID[at.ID] = at.match, true
	}
	t.rawAdded = newAddedMatcher(rawTokens)
	t.normAdded = newAddedMatcher(normTokens)
	return t, nil
}

func parseBPE(raw json.RawMessage) (*bpe, error) {
	typ, err := typeOf(raw, "model")
	if err != nil {
		return nil, err
	}
	if typ != "BPE" {
		return nil, unsupported("model", typ, "BPE")
	}
	var mj bpeJSON
	if err := json.Unmarshal(raw, &mj); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	switch {
	case mj.ByteFallback:
		return nil, errors.New("model.byte_fallback true is not supported")
	case mj.Dropout != nil && *mj.Dropout != 0:
		return nil, fmt.Errorf("model.dropout %v is not supported (only null or 0)", *mj.Dropout)
	case mj.ContinuingSubwordPrefix != nil && *mj.ContinuingSubwordPrefix != "":
		return nil, fmt.Errorf("model.continuing_subword_prefix %q is not supported (only null)", *mj.ContinuingSubwordPrefix)
	case mj.EndOfWordSuffix != nil && *mj.EndOfWordSuffix != "":
		return nil, fmt.Errorf("model.end_of_word_suffix %q is not supported (only null)", *mj.EndOfWordSuffix)
	case mj.Vocab == nil:
		return nil, errors.New("model.vocab is missing")
	case mj.Merges == nil:
		return nil, errors.New("model.merges is missing")
	}
	m := &bpe{
		vocab:        make(map[string]int32, len(mj.Vocab)),
		unk:          -1,
		fuseUnk:      mj.FuseUnk,
		ignoreMerges: mj.IgnoreMerges,
		cache:        map[string][]int32{},
	}
	for tok, id := range mj.Vocab {
		if id < 0 || id > maxTokenID {
			return nil, fmt.Errorf("model.vocab: token %q has id %d out of range", tok, id)
		}
		m.vocab[tok] = int32(id)
	}
	if mj.UnkToken != nil {
		id, ok := m.vocab[*mj.UnkToken]
		if !ok {
			return nil, fmt.Errorf("model.unk_token %q is not in model.vocab", *mj.UnkToken)
		}
		m.unk = id
	}
	pairs, err := parseMerges(*mj.Merges)
	if err != nil {
		return nil, err
	}
	m.merges = make(map[uint64]mergeRule, len(pairs))
	for rank, p := range pairs {
		a, ok := m.vocab[p[0]]
		if !ok {
			return nil, fmt.Errorf("model.merges[%d]: %q is not in model.vocab", rank, p[0])
		}
		b, ok := m.vocab[p[1]]
		if !ok {
			return nil, fmt.Errorf("model.merges[%d]: %q is not in model.vocab", rank, p[1])
		}
		id, ok := m.vocab[p[0]+p[1]]
		if !ok {
			return nil, fmt.Errorf("model.merges[%d]: the merged token %q is not in model.vocab", rank, p[0]+p[1])
		}
		m.merges[pairKey(a, b)] = mergeRule{rank: int32(rank), id: id} // a repeated pair keeps its last rank, as in Hugging Face
	}
	return m, nil
}

// parseMerges reads merges in either format: ["a b", ...] or [["a", "b"], ...].
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return nil, errors.New("model.merges: want a list")
	}
	if rest := bytes.TrimLeft(trimmed[1:], " \t\r\n"); len(rest) > 0 && rest[0] == '[' {
		var pairs [][]string
		if err := json.Unmarshal(raw, &pairs); err != nil {
			return nil, fmt.Errorf("model.merges: %w", err)
		}
		out := make([][2]string, len(pairs))
		for i, p := range pairs {
			if len(p) != 2 {
				return nil, fmt.Errorf("model.merges[%d]: want 2 tokens, got %d", i, len(p))
			}
			out[i] = [2]string{p[0], p[1]}
		}
		return out, nil
	}
	var lines []string
	if err := json.Unmarshal(raw, &lines); err != nil {
		return nil, fmt.Errorf("model.merges: %w", err)
	}
	out := make([][2]string, 0, len(lines))
	for i, l := range lines {
		if strings.HasPrefix(l, "#version") {
			continue
		}
		a, b, ok := strings.Cut(l, " ")
		if !ok || strings.Contains(b, " ") {
			return nil, fmt.Errorf("model.merges[%d]: %q is not two tokens separated by one space", i, l)
		}
		out = append(out, [2]string{a, b})
	}
	return out, nil
}

// readConfig reads the fields this package uses from tokenizer_config.json.
func (t *Tokenizer) readConfig(data []byte) error {
	var c struct {
		BOS          json.RawMessage `json:"bos_token"`
		EOS          json.RawMessage `json:"eos_token"`
		PAD          json.RawMessage `json:"pad_token"`
		UNK          json.RawMessage `json:"unk_token"`
		AddBOS       *bool           `json:"add_bos_token"`
		AddEOS       *bool           `json:"add_eos_token"`
		ChatTemplate json.RawMessage `json:"chat_template"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("not a valid tokenizer_config.json: %w", err)
	}
	var err error
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *string
	}{{"bos_token", c.BOS, &t.Config.BOSToken}, {"eos_token", c.EOS, &t.Config.EOSToken},
		{"pad_token", c.PAD, &t.Config.PADToken}, {"unk_token", c.UNK, &t.Config.UNKToken}} {
		if *f.dst, err = tokenString(f.raw); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	t.Config.AddBOSToken, t.Config.AddEOSToken = c.AddBOS, c.AddEOS
	if isNull(c.ChatTemplate) {
		return nil
	}
	if err := json.Unmarshal(c.ChatTemplate, &t.ChatTemplate); err == nil {
		return nil
	}
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(c.ChatTemplate, &named); err != nil {
		return errors.New("chat_template: want a string or a list of {name, template}")
	}
	t.ChatTemplates = map[string]string{}
	for _, n := range named {
		t.ChatTemplates[n.Name] = n.Template
	}
	t.ChatTemplate = t.ChatTemplates["default"]
	return nil
}

// tokenString reads a special token of tokenizer_config.json: null, a string, or an
// AddedToken object with "content".
func tokenString(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		return "", errors.New("want null, a string or an object with \"content\"")
	}
	return *obj.Content, nil
}

// Encode returns the token ids of text. With addSpecial the post-processor's template adds
// its special tokens (Llama-3's <|begin_of_text|>, for instance). Special tokens written in
// the text, such as "<|im_start|>", become their ids.
func (t *Tokenizer) Encode(text string, addSpecial bool) ([]int, error) {
	if !utf8.ValidString(text) {
		i := 0
		for i < len(text) {
			r, w := utf8.DecodeRuneInString(text[i:])
			if r == utf8.RuneError && w == 1 {
				break
			}
			i += w
		}
		return nil, fmt.Errorf("tokenizer: encode: text is not valid UTF-8 (byte %d)", i)
	}
	ids := make([]int, 0, len(text)/3+4)
	var normSegs []segment
	word := func(w string) { ids = t.model.encode(w, ids) }
	for _, seg := range t.rawAdded.split(text, nil) {
		if seg.token != nil {
			ids = append(ids, seg.token.ID)
			continue
		}
		s := seg.text
		if t.normalizer != nil {
			s = t.normalizer.normalize(s)
		}
		normSegs = t.normAdded.split(s, normSegs[:0])
		for _, ns := range normSegs {
			if ns.token != nil {
				ids = append(ids, ns.token.ID)
				continue
			}
			if t.pre != nil {
				t.pre.split(ns.text, word)
			} else {
				word(ns.text)
			}
		}
	}
	if addSpecial && t.post != nil {
		ids = t.post.process(ids)
	}
	return ids, nil
}

// Decode returns the text of ids. With skipSpecial, special added tokens are left out. An id
// that names no token is an error (Hugging Face drops such ids silently).
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) (string, error) {
	tokens := make([]string, 0, len(ids))
	for i, id := range ids {
		tok, ok := t.Token(id)
		if !ok {
			return "", fmt.Errorf("tokenizer: decode: ids[%d] = %d is not a token id (vocabulary size %d)", i, id, t.VocabSize())
		}
		if skipSpecial && t.special[tok] {
			continue
		}
		tokens = append(tokens, tok)
	}
	if t.decoder == nil {
		return strings.Join(tokens, " "), nil
	}
	return strings.Join(t.decoder.decode(tokens), ""), nil
}

// Token returns the token string of id (in the byte-level alphabet for model tokens).
func (t *Tokenizer) Token(id int) (string, bool) {
	if id < 0 || id >= len(t.hasID) || !t.hasID[id] {
		return "", false
	}
	return t.idToToken[id], true
}

// TokenID returns the id of a token string: an added token's content, or a model token in the
// byte-level alphabet (so " the" is "Ġthe").
func (t *Tokenizer) TokenID(s string) (int, bool) {
	if id, ok := t.added[s]; ok {
		return id, true
	}
	if id, ok := t.model.vocab[s]; ok {
		return int(id), true
	}
	return 0, false
}

// VocabSize is the largest id of the model vocabulary and the added tokens, plus one.
func (t *Tokenizer) VocabSize() int { return len(t.hasID) }

// IsSpecial reports whether id is a special added token.
func (t *Tokenizer) IsSpecial(id int) bool {
	tok, ok := t.Token(id)
	return ok && t.special[tok]
}

// BOS returns the id of tokenizer_config.json's bos_token; false when it is unset or not a token.
func (t *Tokenizer) BOS() (int, bool) { return t.configToken(t.Config.BOSToken) }

// EOS returns the id of tokenizer_config.json's eos_token; false when it is unset or not a token.
func (t *Tokenizer) EOS() (int, bool) { return t.configToken(t.Config.EOSToken) }

// PAD returns the id of tokenizer_config.json's pad_token; false when it is unset or not a token.
func (t *Tokenizer) PAD() (int, bool) { return t.configToken(t.Config.PADToken) }

func (t *Tokenizer) configToken(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	return t.TokenID(s)
}
