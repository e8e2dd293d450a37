package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/unigrpo/unigrpo/launch"
)

// The documentation's commands are checked against the programs themselves. Oracle: each
// program's own --help (`trainer --help` lists the commands, `trainer COMMAND --help` and
// `launch --help` the flags), the Makefile's targets, and the files under scripts/. Every
// `bin/trainer ...`, `trainer ...`, `bin/launch ...` and `make ...` in README.md and docs/*.md, in
// code blocks and in inline code, must name a command that exists and only flags its --help
// lists; every scripts/ path and every local link must exist.

const repoRoot = "../.."

// helps holds what the programs say about themselves.
type helps struct {
	commands map[string]string // trainer command -> its --help
	launch   string            // launch --help
	makefile string
}

var (
	helpsOnce sync.Once
	helpsVal  *helps
	helpsErr  error
)

// programHelp runs this test binary as the trainer with args and returns what it printed; a help
// must exit 0.
func programHelp(args ...string) (string, error) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TRAINER_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("trainer %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

var commandLine = regexp.MustCompile(`(?m)^  (\S+) +\S`)

func loadHelps() (*helps, error) {
	helpsOnce.Do(func() {
		h := &helps{commands: map[string]string{}}
		top, err := programHelp("--help")
		if err != nil {
			helpsErr = err
			return
		}
		_, list, ok := strings.Cut(top, "commands:")
		if !ok {
			helpsErr = fmt.Errorf("trainer --help lists no commands:\n%s", top)
			return
		}
		for _, m := range commandLine.FindAllStringSubmatch(list, -1) {
			if h.commands[m[1]], err = programHelp(m[1], "--help"); err != nil {
				helpsErr = err
				return
			}
		}
		var b bytes.Buffer
		if _, err := launch.ParseArgs([]string{"--help"}, func(string) (string, bool) { return "", false }, &b); !errors.Is(err, launch.ErrHelp) {
			helpsErr = fmt.Errorf("launch --help: %v", err)
			return
		}
		h.launch = b.String()
		mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
		if err != nil {
			helpsErr = err
			return
		}
		h.makefile = string(mk)
		helpsVal = h
	})
	return helpsVal, helpsErr
}

// snippet is a piece of code in a document: a code block's command (continuation lines joined)
// or an inline code span.
type snippet struct {
	line int
	text string
}

var inlineCode = regexp.MustCompile("`([^`]+)`")

// snippets returns the code of a markdown text: each command of its fenced blocks, with
// continuation lines joined and comments cut, and each inline code span of its paragraphs (a span
// may wrap over lines).
func snippets(text string) (code []snippet, prose []snippet) {
	lines := strings.Split(text, "\n")
	inFence := false
	var para []string
	paraStart := 0
	flush := func() {
		if len(para) > 0 {
			joined := strings.Join(para, " ")
			prose = append(prose, snippet{paraStart, joined})
			for _, m := range inlineCode.FindAllStringSubmatch(joined, -1) {
				code = append(code, snippet{paraStart, m[1]})
			}
		}
		para = nil
	}
	var cont strings.Builder
	contStart := 0
	for i, l := range lines {
		n := i + 1
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			flush()
			inFence = !inFence
			continue
		}
		if inFence {
			l = cutComment(l)
			if cont.Len() == 0 {
				contStart = n
			}
			if t := strings.TrimRight(l, " \t"); strings.HasSuffix(t, `\`) {
				cont.WriteString(strings.TrimSuffix(t, `\`) + " ")
				continue
			}
			cont.WriteString(l)
			code = append(code, snippet{contStart, cont.String()})
			cont.Reset()
			continue
		}
		if strings.TrimSpace(l) == "" {
			flush()
			continue
		}
		if len(para) == 0 {
			paraStart = n
		}
		para = append(para, strings.TrimSpace(l))
	}
	flush()
	return code, prose
}

// cutComment drops a shell comment: a # after white space, outside quotes.
func cutComment(l string) string {
	var quote rune
	for i, r := range l {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
			return l[:i]
		}
	}
	return l
}

// fields splits a command into words as a shell would, quotes kept out of the words.
func fields(s string) []string {
	var out []string
	var w strings.Builder
	var quote rune
	in := false
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				w.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, w.String())
	}
	return out
}

// separators end a command.
var separators = map[string]bool{"|": true, "||": true, "&&": true, ";": true, "<": true, ">": true, ">>": true, "2>&1": true, "&": true}

// placeholder is a word that stands for a command line's rest (..., ARGS).
func placeholder(w string) bool {
	return w == "..." || (w == strings.ToUpper(w) && strings.ToLower(w) != w)
}

var flagWord = regexp.MustCompile(`^--?[A-Za-z]`)

// hasLongFlag reports whether a --help text lists --name (pflag writes "--name type",
// "--name[=true|false]" or "--name" alone).
func hasLongFlag(help, name string) bool {
	return regexp.MustCompile(`(?m)--` + regexp.QuoteMeta(name) + `(?:[ \t=\[]|$)`).MatchString(help)
}

// takesValue reports whether --name is listed with a value type.
func takesValue(help, name string) bool {
	return regexp.MustCompile(`(?m)--` + regexp.QuoteMeta(name) + ` (?:int|uint|string|float|duration|stringArray)\b`).MatchString(help)
}

// checkCommand checks the programs named in one command's words; it returns the problems and
// how many program calls it checked.
func checkCommand(h *helps, words []string) (problems []string, checked int) {
	for i := 0; i < len(words); i++ {
		w := words[i]
		var rest []string
		for _, r := range words[i+1:] {
			if separators[r] {
				break
			}
			rest = append(rest, r)
		}
		switch {
		case w == "trainer" || strings.HasSuffix(w, "bin/trainer"):
			if len(rest) == 0 || placeholder(rest[0]) {
				continue
			}
			checked++
			problems = append(problems, checkTrainer(h, rest)...)
		case w == "launch" || strings.HasSuffix(w, "bin/launch"):
			if len(rest) == 0 || placeholder(rest[0]) {
				continue
			}
			checked++
			problems = append(problems, checkLaunch(h, rest)...)
		case w == "make":
			for _, t := range rest {
				if strings.Contains(t, "=") || strings.HasPrefix(t, "-") {
					continue
				}
				checked++
				if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(t) + `:`).MatchString(h.makefile) {
					problems = append(problems, fmt.Sprintf("make %s: the Makefile has no target %q", t, t))
				}
			}
		}
	}
	return problems, checked
}

func checkTrainer(h *helps, args []string) []string {
	sub, flags := "train", args // the default command
	if !strings.HasPrefix(args[0], "-") {
		sub, flags = args[0], args[1:]
	}
	help, ok := h.commands[sub]
	if !ok {
		return []string{fmt.Sprintf("trainer %s: no such command (trainer --help)", sub)}
	}
	var problems []string
	for _, f := range flags {
		if f == "--" {
			break
		}
		if !flagWord.MatchString(f) || f == "--help" || f == "-h" {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(f, "-"), "=")
		switch {
		case strings.HasPrefix(f, "--"):
			if !hasLongFlag(help, name) {
				problems = append(problems, fmt.Sprintf("trainer %s %s: no such flag (trainer %s --help)", sub, f, sub))
			}
		case len(name) == 1:
			if !strings.Contains(help, "-"+name+", --") {
				problems = append(problems, fmt.Sprintf("trainer %s %s: no such shorthand (trainer %s --help)", sub, f, sub))
			}
		default:
			problems = append(problems, fmt.Sprintf("trainer %s %s: one dash before a long name reads as shorthands", sub, f))
		}
	}
	return problems
}

func checkLaunch(h *helps, args []string) []string {
	var problems []string
	for i := 0; i < len(args); i++ {
		f := args[i]
		if f == "--" || !flagWord.MatchString(f) {
			break // the program and its arguments
		}
		if f == "--help" || f == "-h" {
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(f, "-"), "=")
		switch {
		case !strings.HasPrefix(f, "--") && len(name) > 1 && !regexp.MustCompile(`(?:^|[\s(])`+regexp.QuoteMeta("-"+name)+` `).MatchString(h.launch):
			problems = append(problems, fmt.Sprintf("launch %s: launch --help does not say it takes %s", f, f))
			continue
		case !hasLongFlag(h.launch, name):
			problems = append(problems, fmt.Sprintf("launch %s: no such flag (launch --help)", f))
			continue
		}
		if !hasValue && takesValue(h.launch, name) {
			i++
		}
	}
	return problems
}

var (
	scriptPath = regexp.MustCompile(`(?:^|[^A-Za-z0-9_./-])(scripts/[A-Za-z0-9_.*/-]*[A-Za-z0-9_*/])`)
	localLink  = regexp.MustCompile(`\]\(([^)#\s]+)(?:#[^)]*)?\)`)
)

// checkDoc returns the problems of one document (dir is its folder, for its links) and how many
// program calls it checked.
func checkDoc(h *helps, name, dir, text string) (problems []string, checked int) {
	code, prose := snippets(text)
	for _, s := range code {
		ps, n := checkCommand(h, fields(s.text))
		checked += n
		for _, p := range ps {
			problems = append(problems, fmt.Sprintf("%s:%d: %s", name, s.line, p))
		}
		for _, m := range scriptPath.FindAllStringSubmatch(s.text, -1) {
			if hits, _ := filepath.Glob(filepath.Join(repoRoot, m[1])); len(hits) == 0 {
				problems = append(problems, fmt.Sprintf("%s:%d: %s does not exist", name, s.line, m[1]))
			}
		}
	}
	for _, s := range prose {
		for _, m := range localLink.FindAllStringSubmatch(s.text, -1) {
			if strings.Contains(m[1], "://") {
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, m[1])); err != nil {
				problems = append(problems, fmt.Sprintf("%s:%d: link %s: no such file", name, s.line, m[1]))
			}
		}
	}
	return problems, checked
}

func TestDocsCommands(t *testing.T) {
	h, err := loadHelps()
	if err != nil {
		t.Fatal(err)
	}
	docs, _ := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	docs = append([]string{filepath.Join(repoRoot, "README.md")}, docs...)
	total := 0
	for _, path := range docs {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(repoRoot, path)
		problems, n := checkDoc(h, name, filepath.Dir(path), string(text))
		total += n
		for _, p := range problems {
			t.Error(p)
		}
	}
	t.Logf("checked %d program calls in %d documents", total, len(docs))
	if len(docs) < 5 || total < 40 {
		t.Errorf("checked %d program calls in %d documents: the extraction finds too little", total, len(docs))
	}
	// The README holds the two commands a newcomer runs.
	readme, _ := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	code, _ := snippets(string(readme))
	for _, want := range []string{"make demo", "make test"} {
		found := false
		for _, s := range code {
			found = found || strings.HasPrefix(strings.TrimSpace(s.text), want)
		}
		if !found {
			t.Errorf("README.md has no %q command", want)
		}
	}
}

// The check fails on what it is there to catch. Oracle: the same --help texts.
func TestDocsCheckCatchesMistakes(t *testing.T) {
	h, err := loadHelps()
	if err != nil {
		t.Fatal(err)
	}
	bad := "# Doc\n\n" +
		"Run `bin/trainer train --init a --no-such-flag 3` or `trainer frobnicate --x`, or\n" +
		"`trainer sft\n--also-missing`.\n\n" +
		"```sh\n" +
		"bin/launch -np 2 --nope 1 bin/trainer eval --ckpt a \\\n    --scenes 2 --bogus   # a comment --not-checked\n" +
		"bin/trainer -lr 1e-4\n" +
		"make no-such-target UMM=2\n" +
		"scripts/no-such.sh --help\n" +
		"```\n\nSee [the page](no-such-page.md).\n"
	problems, _ := checkDoc(h, "bad.md", t.TempDir(), bad)
	want := []string{
		"bad.md:3: trainer train --no-such-flag: no such flag",
		"bad.md:3: trainer frobnicate: no such command",
		"bad.md:3: trainer sft --also-missing: no such flag",
		"bad.md:8: launch --nope: no such flag",
		"bad.md:8: trainer eval --bogus: no such flag",
		"bad.md:10: trainer train -lr: one dash before a long name",
		"bad.md:11: make no-such-target: the Makefile has no target",
		"bad.md:12: scripts/no-such.sh does not exist",
		"bad.md:15: link no-such-page.md: no such file",
	}
	joined := strings.Join(problems, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("missing problem %q; got:\n%s", w, joined)
		}
	}
	if len(problems) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(problems), len(want), joined)
	}

	good := "```sh\nLIBTORCH=/x make build\nbin/launch -np 8 --nnodes 2 --node-rank 0 --token SECRET bin/trainer train -B 4 --joint --draw-temperature 1 --chat=false\n" +
		"srun bin/trainer ...\nscripts/gpu/checks/*.sh\n```\n\n`launch -np N PROGRAM ARGS` and `trainer eval` and [design](design.md).\n"
	docsDir := filepath.Join(repoRoot, "docs")
	if problems, n := checkDoc(h, "good.md", docsDir, good); len(problems) > 0 || n != 5 {
		t.Errorf("a correct document: %d calls checked (want 5), problems:\n%s", n, strings.Join(problems, "\n"))
	}
}
