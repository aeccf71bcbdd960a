// Package catalog reads app manifests (spacepods.yaml) strictly, with a line
// number and a fix in every problem, and orders apps by their dependencies.
package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Limits on a manifest. A spacepods.yaml declares one app and is normally well
// under 100 lines; the YAML parser slows down quadratically on some huge
// shapes, so anything far beyond a real manifest is refused before parsing.
const (
	// MaxManifestBytes is the largest manifest accepted: 1 MiB.
	MaxManifestBytes = 1 << 20
	// MaxManifestLines is the most lines a manifest may have.
	MaxManifestLines = 5000
	// MaxManifestTokens is the most YAML tokens (keys, values, brackets) a manifest may hold.
	MaxManifestTokens = 100000
	// MaxManifestDepth is how deep [ ] and { } may nest; a manifest needs 4.
	MaxManifestDepth = 32
)

// Problem is one thing wrong in a manifest.
type Problem struct {
	Line    int    // 1-based line of the offending key or value
	Field   string // dotted path such as "rollout.stages[1]" or "env.FOO": the field, or for an unknown key the mapping it is in; "" for the top level
	Message string // what is wrong and what to write instead
}

// String renders the problem as "line N: field: message".
func (p Problem) String() string {
	if p.Field == "" {
		return fmt.Sprintf("line %d: %s", p.Line, p.Message)
	}
	return fmt.Sprintf("line %d: %s: %s", p.Line, p.Field, p.Message)
}

// ManifestError lists every problem found in a manifest, sorted by line. It
// unwraps to a *spacepods.Error with code EINVALID carrying the same text.
type ManifestError struct {
	Problems []Problem
}

// Error returns one problem per line.
func (e *ManifestError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the EINVALID *spacepods.Error that callers map to a status.
func (e *ManifestError) Unwrap() error {
	return &spacepods.Error{Code: spacepods.EINVALID, Message: e.Error()}
}

// ParseManifest strictly parses a spacepods.yaml and validates the app it
// declares. Every problem (syntax, unknown key at any depth, wrong type,
// invalid value) is reported at once in a *ManifestError, which also unwraps
// to a spacepods.EINVALID error. A manifest over the size limits gets a
// spacepods.ETOOLARGE error instead. On success the app passes Validate().
func ParseManifest(data []byte) (*spacepods.App, error) {
	if len(data) > MaxManifestBytes {
		return nil, spacepods.Errorf(spacepods.ETOOLARGE, "the manifest is %d bytes, over the limit of 1 MiB: a spacepods.yaml declares one app and is normally a few hundred bytes", len(data))
	}
	data = normalizeNewlines(data)
	if n := bytes.Count(data, []byte("\n")) + 1; n > MaxManifestLines {
		return nil, spacepods.Errorf(spacepods.ETOOLARGE, "the manifest has %d lines, over the limit of %d: a spacepods.yaml declares one app and is normally under 100 lines", n, MaxManifestLines)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
	if !utf8.Valid(data) {
		return nil, single(invalidUTF8Line(data), "", "the manifest is not UTF-8 text: save it as UTF-8")
	}
	tokens := lexer.Tokenize(string(data))
	if len(tokens) > MaxManifestTokens {
		return nil, spacepods.Errorf(spacepods.ETOOLARGE, "the manifest holds more than %d keys, values and brackets: a spacepods.yaml declares one app and is normally a few hundred", MaxManifestTokens)
	}
	if line := tooDeep(tokens); line > 0 {
		return nil, single(line, "", fmt.Sprintf("values are nested more than %d levels deep: a manifest needs at most 4 (e.g. workers: [{command: [...]}])", MaxManifestDepth))
	}
	file, err := parseTokens(tokens)
	if err != nil {
		return nil, syntaxProblem(err, data)
	}

	var docs []*ast.DocumentNode
	for _, d := range file.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	switch {
	case len(docs) == 0:
		return nil, single(1, "", "the manifest is empty: declare at least name, repo and kind, e.g. name: catalog-api, repo: acme/catalog-api, kind: web")
	case len(docs) > 1:
		line := docLine(docs[1])
		return nil, single(line, "", fmt.Sprintf("a manifest holds one document, but a second one starts at line %d: remove the \"---\" and what follows, or give each app its own spacepods.yaml", line))
	}

	d := newDecoder(docs[0].Body)
	root := d.normalize(docs[0].Body, 0)
	if root.kind != kMap {
		line := max(root.line, 1)
		d.problem(line, "", fmt.Sprintf("the manifest must be a mapping of keys to values such as name: catalog-api, found %s", root.describe()))
		return nil, d.err()
	}
	d.firstLine = max(root.line, 1)
	if len(root.m.Values) > 0 {
		d.firstLine = max(lineOf(root.m.Values[0].Key), 1)
	}
	app := d.app(root)
	for _, fe := range app.Validate() {
		if d.suppressed(fe.Field) {
			continue
		}
		d.note(d.lineFor(fe.Field), fe.Field, fe.Message)
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return app, nil
}

// parseTokens runs the YAML parser. A panic in it (a bug in the parser on
// some odd input) becomes an error: a manifest must never crash the server.
func parseTokens(tokens token.Tokens) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("the YAML parser could not read this input (%v)", r)
		}
	}()
	// Duplicate keys are found by the decoder, which says where the first one is
	// and goes on to report the other problems.
	return parser.Parse(tokens, 0, parser.AllowDuplicateMapKey())
}

// normalizeNewlines turns CRLF and lone CR (both line breaks in YAML) into
// LF, so that every line count here agrees with the parser's.
func normalizeNewlines(data []byte) []byte {
	if bytes.IndexByte(data, '\r') < 0 {
		return data
	}
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(data, []byte("\r"), []byte("\n"))
}

// single returns a *ManifestError holding one problem.
func single(line int, field, msg string) error {
	return &ManifestError{Problems: []Problem{{Line: line, Field: field, Message: msg}}}
}

// syntaxProblem turns a YAML parser error into a one-problem *ManifestError.
func syntaxProblem(err error, data []byte) error {
	line, msg := 1, err.Error()
	var yerr yaml.Error
	if errors.As(err, &yerr) {
		msg = yerr.GetMessage()
		if tk := yerr.GetToken(); tk != nil && tk.Position != nil && tk.Position.Line > 0 {
			line = tk.Position.Line
		}
	}
	msg = "this is not valid YAML: " + msg
	if src := sourceLine(data, line); strings.Contains(src, "\t") {
		msg += " (YAML indents with spaces, not tabs)"
	}
	return single(line, "", msg)
}

// sourceLine returns line n (1-based) of data.
func sourceLine(data []byte, n int) string {
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			return ""
		}
		data = data[j+1:]
	}
	if j := bytes.IndexByte(data, '\n'); j >= 0 {
		data = data[:j]
	}
	return string(data)
}

// invalidUTF8Line returns the line of the first byte that is not UTF-8.
func invalidUTF8Line(data []byte) int {
	line := 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			return line
		}
		if r == '\n' {
			line++
		}
		data = data[size:]
	}
	return line
}

// tooDeep returns the line where flow collections ([ ] and { }) nest deeper
// than MaxManifestDepth, or 0.
func tooDeep(tokens token.Tokens) int {
	depth := 0
	for _, tk := range tokens {
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			depth++
			if depth > MaxManifestDepth {
				return max(tk.Position.Line, 1)
			}
		case token.SequenceEndType, token.MappingEndType:
			if depth > 0 {
				depth--
			}
		}
	}
	return 0
}

// docLine returns the first line of a document.
func docLine(d *ast.DocumentNode) int {
	if d.Start != nil && d.Start.Position != nil && d.Start.Position.Line > 0 {
		return d.Start.Position.Line
	}
	return max(lineOf(d.Body), 1)
}

// lineOf returns the line of a node's token, or 0 when it has none.
func lineOf(n ast.Node) int {
	if n == nil {
		return 0
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 0
	}
	return tk.Position.Line
}

// sortProblems orders problems by line, then field and message, and drops
// exact duplicates.
func sortProblems(ps []Problem) []Problem {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		return a.Message < b.Message
	})
	out := ps[:0]
	for i, p := range ps {
		if i > 0 && p == ps[i-1] {
			continue
		}
		out = append(out, p)
	}
	return out
}

// quoteArgs renders a command line as a YAML flow list: /app serve → ["/app", "serve"].
func quoteArgs(s string) string {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return `["/app", "serve"]`
	}
	for i, f := range fields {
		fields[i] = strconv.Quote(f)
	}
	return "[" + strings.Join(fields, ", ") + "]"
}
