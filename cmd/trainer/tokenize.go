package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/unigrpo/unigrpo/models/hf/tokenizer"
)

// runTokenize is `trainer tokenize`: it encodes texts (or decodes ids) with a Hugging Face
// tokenizer.json, one JSON value per line from stdin to stdout.
func runTokenize(args []string) error {
	fs := newFlags("tokenize", "--tokenizer PATH [--special] [--decode [--skip-special]] < lines")
	path := fs.String("tokenizer", "", "tokenizer.json, or the folder holding it (and tokenizer_config.json)")
	special := fs.Bool("special", false, "add the special tokens of the tokenizer's post-processor (e.g. Llama-3's <|begin_of_text|>)")
	decode := fs.Bool("decode", false, "read one JSON array of ids per line and print each decoding as a JSON string")
	skipSpecial := fs.Bool("skip-special", false, "with --decode, leave special tokens out of the text")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, `usage: trainer tokenize --tokenizer PATH [--special] [--decode [--skip-special]] < lines

Reads one JSON-encoded string per line from stdin (so a text may hold newlines) and prints
the token ids of each as one JSON array per line. With --decode, reads JSON arrays of ids
and prints JSON strings.

flags:
%s`, fs.FlagUsages())
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usagef("tokenize: --tokenizer is required")
	}
	if *skipSpecial && !*decode {
		return usagef("tokenize: --skip-special only applies with --decode")
	}
	tok, err := tokenizer.Load(*path)
	if err != nil {
		return err
	}
	return tokenizeLines(tok, os.Stdin, os.Stdout, *special, *decode, *skipSpecial)
}

// tokenizeLines encodes (or decodes) each line of in and writes one JSON line per input line.
func tokenizeLines(tok *tokenizer.Tokenizer, in io.Reader, out io.Writer, special, decode, skipSpecial bool) error {
	r := bufio.NewReaderSize(in, 1<<16)
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // keep "<|im_start|>" readable
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !errors.Is(err, io.EOF) {
			w.Flush()
			return fmt.Errorf("tokenize: reading stdin: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if decode {
			var ids []int
			if jerr := json.Unmarshal(line, &ids); jerr != nil || ids == nil {
				w.Flush()
				return fmt.Errorf("tokenize: stdin line %d: want a JSON array of token ids: %s", n, describeJSONError(jerr))
			}
			text, derr := tok.Decode(ids, skipSpecial)
			if derr != nil {
				w.Flush()
				return fmt.Errorf("tokenize: stdin line %d: %w", n, derr)
			}
			if werr := enc.Encode(text); werr != nil {
				return fmt.Errorf("tokenize: writing stdout: %w", werr)
			}
		} else {
			var text *string
			if jerr := json.Unmarshal(line, &text); jerr != nil || text == nil {
				w.Flush()
				return fmt.Errorf("tokenize: stdin line %d: want a JSON-encoded string: %s", n, describeJSONError(jerr))
			}
			ids, eerr := tok.Encode(*text, special)
			if eerr != nil {
				w.Flush()
				return fmt.Errorf("tokenize: stdin line %d: %w", n, eerr)
			}
			if ids == nil {
				ids = []int{}
			}
			if werr := enc.Encode(ids); werr != nil {
				return fmt.Errorf("tokenize: writing stdout: %w", werr)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("tokenize: writing stdout: %w", err)
	}
	return nil
}

// describeJSONError words a failed json.Unmarshal (nil: the line held null).
func describeJSONError(err error) string {
	if err == nil {
		return "got null"
	}
	return err.Error()
}
