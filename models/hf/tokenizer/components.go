package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// This file holds the pipeline components other than the model, and their parsing from
// tokenizer.json. Each parse function gets the JSON value and the field path it came from
// (such as "pre_tokenizer.pretokenizers[1]") to name in its errors.

// typeOf reads the "type" of a component.
func typeOf(raw json.RawMessage, field string) (string, error) {
	var c struct {
		Type *string `json:"type"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	if c.Type == nil {
		return "", fmt.Errorf("%s.type is missing", field)
	}
	return *c.Type, nil
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}

// unsupported is the error for a component type this package does not implement.
func unsupported(field, typ, supported string) error {
	return fmt.Errorf("%s.type %q is not supported (supported: %s)", field, typ, supported)
}

// --- normalizers ---

type normalizer interface {
	normalize(s string) string
}

type unicodeNormalizer struct{ form norm.Form }

func (n unicodeNormalizer) normalize(s string) string { return n.form.String(s) }

type normalizerSeq []normalizer

func (ns normalizerSeq) normalize(s string) string {
	for _, n := range ns {
		s = n.normalize(s)
	}
	return s
}

func parseNormalizer(raw json.RawMessage, field string) (normalizer, error) {
	typ, err := typeOf(raw, field)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "NFC":
		return unicodeNormalizer{norm.NFC}, nil
	case "NFD":
		return unicodeNormalizer{norm.NFD}, nil
	case "NFKC":
		return unicodeNormalizer{norm.NFKC}, nil
	case "NFKD":
		return unicodeNormalizer{norm.NFKD}, nil
	case "Sequence":
		var seq struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := json.Unmarshal(raw, &seq); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		var out normalizerSeq
		for i, r := range seq.Normalizers {
			n, err := parseNormalizer(r, fmt.Sprintf("%s.normalizers[%d]", field, i))
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, nil
	}
	return nil, unsupported(field, typ, "NFC, NFD, NFKC, NFKD, Sequence")
}

// --- pre-tokenizers ---

// A preTokenizer cuts a piece of text into smaller pieces (and may transform them), passing
// each non-empty result to emit in order.
type preTokenizer interface {
	split(piece string, emit func(string))
}

// byteLevelPre is the ByteLevel pre-tokenizer: an optional leading space, the GPT-2 split
// (use_regex), then every byte replaced by its rune of the byte-level alphabet.
type byteLevelPre struct {
	addPrefixSpace, useRegex bool
}

func (b byteLevelPre) split(p string, emit func(string)) {
	if p == "" {
		return
	}
	if b.addPrefixSpace && !strings.HasPrefix(p, " ") {
		p = " " + p
	}
	if !b.useRegex {
		emit(byteLevelMap(p))
		return
	}
	for i := 0; i < len(p); {
		e := scanGPT2.end(p, i)
		emit(byteLevelMap(p[i:e]))
		i = e
	}
}

// splitPre is the Split pre-tokenizer.
type splitPre struct {
	m        matcher
	behavior string
	invert   bool
}

func (sp splitPre) split(p string, emit func(string)) {
	if p == "" {
		return
	}
	if sc, ok := sp.m.(*scanner); ok && sp.behavior == behaviorIsolated {
		// fast path: a scanner's matches tile the text, and Isolated keeps every piece
		// (so invert changes nothing)
		for i := 0; i < len(p); {
			e := sc.end(p, i)
			emit(p[i:e])
			i = e
		}
		return
	}
	for _, s := range applyBehavior(p, splitSpans(p, sp.m, sp.invert, nil), sp.behavior, nil) {
		if s != "" {
			emit(s)
		}
	}
}

type preTokenizerSeq []preTokenizer

func (ps preTokenizerSeq) split(p string, emit func(string)) {
	if len(ps) == 0 {
		if p != "" {
			emit(p)
		}
		return
	}
	// chain the stages: each one's pieces go through the next
	chain := emit
	for i := len(ps) - 1; i >= 1; i-- {
		next, stage := chain, ps[i]
		chain = func(q string) { stage.split(q, next) }
	}
	ps[0].split(p, chain)
}

func parsePreTokenizer(raw json.RawMessage, field string) (preTokenizer, error) {
	typ, err := typeOf(raw, field)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "ByteLevel":
		var c struct {
			AddPrefixSpace *bool `json:"add_prefix_space"`
			UseRegex       *bool `json:"use_regex"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		b := byteLevelPre{addPrefixSpace: true, useRegex: true}
		if c.AddPrefixSpace != nil {
			b.addPrefixSpace = *c.AddPrefixSpace
		}
		if c.UseRegex != nil {
			b.useRegex = *c.UseRegex
		}
		return b, nil
	case "Split":
		var c struct {
			Pattern struct {
				String *string `json:"String"`
				Regex  *string `json:"Regex"`
			} `json:"pattern"`
			Behavior string `json:"behavior"`
			Invert   bool   `json:"invert"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		sp := splitPre{behavior: c.Behavior, invert: c.Invert}
		switch c.Behavior {
		case behaviorIsolated, behaviorRemoved, behaviorMergedWithPrevious, behaviorMergedWithNext, behaviorContiguous:
		default:
			return nil, fmt.Errorf("%s.behavior %q is not supported (supported: Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous)", field, c.Behavior)
		}
		switch {
		case c.Pattern.Regex != nil:
			m, err := compilePattern(*c.Pattern.Regex)
			if err != nil {
				return nil, fmt.Errorf("%s.pattern.Regex: %w", field, err)
			}
			sp.m = m
		case c.Pattern.String != nil:
			sp.m = literal(*c.Pattern.String)
		default:
			return nil, fmt.Errorf("%s.pattern: want {\"Regex\": ...} or {\"String\": ...}", field)
		}
		return sp, nil
	case "Sequence":
		var seq struct {
			PreTokenizers []json.RawMessage `json:"pretokenizers"`
		}
		if err := json.Unmarshal(raw, &seq); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		var out preTokenizerSeq
		for i, r := range seq.PreTokenizers {
			p, err := parsePreTokenizer(r, fmt.Sprintf("%s.pretokenizers[%d]", field, i))
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
		return out, nil
	}
	return nil, unsupported(field, typ, "ByteLevel, Split, Sequence")
}

// --- decoders ---

// A decoder turns token strings into text pieces (Hugging Face's decode_chain); the pieces of
// the last decoder are concatenated.
type decoder interface {
	decode(tokens []string) []string
}

type byteLevelDecoder struct{}

func (byteLevelDecoder) decode(tokens []string) []string {
	var raw []byte
	for _, t := range tokens {
		raw = byteLevelUnmap(raw, t)
	}
	return []string{string(appendLossyUTF8(nil, raw))}
}

type decoderSeq []decoder

func (ds decoderSeq) decode(tokens []string) []string {
	for _, d := range ds {
		tokens = d.decode(tokens)
	}
	return tokens
}

func parseDecoder(raw json.RawMessage, field string) (decoder, error) {
	typ, err := typeOf(raw, field)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "ByteLevel":
		return byteLevelDecoder{}, nil
	case "Sequence":
		var seq struct {
			Decoders []json.RawMessage `json:"decoders"`
		}
		if err := json.Unmarshal(raw, &seq); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		var out decoderSeq
		for i, r := range seq.Decoders {
			d, err := parseDecoder(r, fmt.Sprintf("%s.decoders[%d]", field, i))
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		return out, nil
	}
	return nil, unsupported(field, typ, "ByteLevel, Sequence")
}

// --- post-processors ---

// A postProcessor adds special tokens around the ids of one sequence.
type postProcessor interface {
	process(ids []int) []int
}

// byteLevelPost only trims offsets in Hugging Face; for ids it does nothing.
type byteLevelPost struct{}

func (byteLevelPost) process(ids []int) []int { return ids }

// templatePost is TemplateProcessing's single-sequence template.
type templatePost struct {
	before, after []int
}

func (t templatePost) process(ids []int) []int {
	out := make([]int, 0, len(t.before)+len(ids)+len(t.after))
	out = append(out, t.before...)
	out = append(out, ids...)
	return append(out, t.after...)
}

type postSeq []postProcessor

func (ps postSeq) process(ids []int) []int {
	for _, p := range ps {
		ids = p.process(ids)
	}
	return ids
}

func parsePostProcessor(raw json.RawMessage, field string) (postProcessor, error) {
	typ, err := typeOf(raw, field)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "ByteLevel":
		return byteLevelPost{}, nil
	case "TemplateProcessing":
		type ref struct {
			ID string `json:"id"`
		}
		var c struct {
			Single []struct {
				SpecialToken *ref `json:"SpecialToken"`
				Sequence     *ref `json:"Sequence"`
			} `json:"single"`
			SpecialTokens map[string]struct {
				IDs []int `json:"ids"`
			} `json:"special_tokens"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		var t templatePost
		seen := false
		for i, piece := range c.Single {
			switch {
			case piece.Sequence != nil:
				if piece.Sequence.ID != "A" {
					return nil, fmt.Errorf("%s.single[%d]: sequence %q in a single-sequence template (want \"A\")", field, i, piece.Sequence.ID)
				}
				if seen {
					return nil, fmt.Errorf("%s.single[%d]: the sequence appears twice", field, i)
				}
				seen = true
			case piece.SpecialToken != nil:
				st, ok := c.SpecialTokens[piece.SpecialToken.ID]
				if !ok {
					return nil, fmt.Errorf("%s.single[%d]: special token %q is not in %s.special_tokens", field, i, piece.SpecialToken.ID, field)
				}
				if seen {
					t.after = append(t.after, st.IDs...)
				} else {
					t.before = append(t.before, st.IDs...)
				}
			default:
				return nil, fmt.Errorf("%s.single[%d]: want {\"SpecialToken\": ...} or {\"Sequence\": ...}", field, i)
			}
		}
		if !seen {
			return nil, fmt.Errorf("%s.single has no {\"Sequence\": {\"id\": \"A\"}}", field)
		}
		return t, nil
	case "Sequence":
		var seq struct {
			Processors []json.RawMessage `json:"processors"`
		}
		if err := json.Unmarshal(raw, &seq); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		var out postSeq
		for i, r := range seq.Processors {
			p, err := parsePostProcessor(r, fmt.Sprintf("%s.processors[%d]", field, i))
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
		return out, nil
	}
	return nil, unsupported(field, typ, "ByteLevel, TemplateProcessing, Sequence")
}
