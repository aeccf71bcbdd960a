package catalog

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// The decoder walks the YAML AST by hand rather than through reflection so
// that every problem names its line and says what to write, unknown keys are
// caught at every depth, and each field path (as App.Validate spells it) is
// tied to a line.

// Keys of each mapping, in the order the reference documents them.
var (
	appKeys      = []string{"name", "repo", "kind", "port", "health", "command", "args", "dependencies", "database", "migrate", "migrate_timeout", "env", "rollout", "workers", "tests", "previews", "pipeline", "build", "image"}
	buildKeys    = []string{"git", "context", "dockerfile"}
	imageKeys    = []string{"repository"}
	databaseKeys = []string{"engine", "seed", "snapshot"}
	rolloutKeys  = []string{"stages", "replicas"}
	workerKeys   = []string{"name", "command", "args"}
	testsKeys    = []string{"image", "command", "args", "timeout"}
	previewsKeys = []string{"when", "label", "ttl"}
)

// maxAliasDepth bounds alias resolution so that an alias inside its own
// anchor cannot loop.
const maxAliasDepth = 8

// valKind is the shape of a YAML value, after anchors, aliases and tags.
type valKind int

const (
	kNull valKind = iota
	kString
	kInt
	kFloat
	kBool
	kList
	kMap
	kOther
)

// val is a normalized YAML value.
type val struct {
	kind   valKind
	line   int
	text   string // scalar text as written (kString: the value)
	quoted bool   // kString written in quotes
	i      int64  // kInt
	big    bool   // kInt too large for int64
	seq    []ast.Node
	m      *ast.MappingNode
	what   string // kOther: what it is
}

// describe names the value for a message: `the string "x"`, `the number 5`.
func (v val) describe() string {
	switch v.kind {
	case kNull:
		return "nothing (null)"
	case kString:
		return fmt.Sprintf("the string %q", clip(v.text))
	case kInt, kFloat:
		return "the number " + clip(v.text)
	case kBool:
		return clip(v.text) + " (a boolean)"
	case kList:
		return "a list"
	case kMap:
		return "a mapping"
	}
	return v.what
}

// clip shortens long values quoted in messages.
func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

type decoder struct {
	problems  []Problem
	lines     map[string]int  // field path → line of its value (or key)
	bad       map[string]bool // field paths that already have a problem
	anchors   map[string]ast.Node
	firstLine int
}

func newDecoder(body ast.Node) *decoder {
	d := &decoder{lines: map[string]int{}, bad: map[string]bool{}, anchors: map[string]ast.Node{}}
	ast.Walk(anchorCollector(d.anchors), body)
	return d
}

// anchorCollector records every anchor of a document, so aliases resolve
// even when their anchor sits under a key the decoder skips.
type anchorCollector map[string]ast.Node

func (c anchorCollector) Visit(n ast.Node) ast.Visitor {
	if a, ok := n.(*ast.AnchorNode); ok && a.Name != nil && a.Name.GetToken() != nil {
		c[a.Name.GetToken().Value] = a.Value
	}
	return c
}

// problem records one problem; a non-empty field is marked bad so that
// App.Validate's findings about the same field are not repeated.
func (d *decoder) problem(line int, field, msg string) {
	if line < 1 {
		line = d.lineFor(field)
	}
	d.problems = append(d.problems, Problem{Line: line, Field: field, Message: msg})
	if field != "" {
		d.bad[field] = true
	}
}

// note records a problem without marking its field bad: used for problems
// (unknown, duplicate or odd keys) that leave the field's own value intact.
func (d *decoder) note(line int, field, msg string) {
	d.problems = append(d.problems, Problem{Line: line, Field: field, Message: msg})
}

// err returns the problems as a *ManifestError, or nil.
func (d *decoder) err() error {
	if len(d.problems) == 0 {
		return nil
	}
	return &ManifestError{Problems: sortProblems(d.problems)}
}

// record ties a field path to a line.
func (d *decoder) record(path string, line int) {
	if line > 0 {
		d.lines[path] = line
	}
}

// lineFor returns the line of a field path, falling back to its nearest
// recorded parent (a missing field is reported where its section is) and
// then to the first key of the document.
func (d *decoder) lineFor(path string) int {
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		if f, ok := fallbacks[path]; ok {
			if l, ok := d.lines[f]; ok {
				return l
			}
		}
		path = parentPath(path)
	}
	return max(d.firstLine, 1)
}

// fallbacks name, for a top-level field that is missing, the field whose
// line explains why it is needed: a web app needs a port.
var fallbacks = map[string]string{"port": "kind", "health": "kind"}

// parentPath drops the last element of a field path: a.b[2] → a.b → a → "".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// suppressed reports whether a Validate finding on field would repeat a
// problem already reported on that field, inside it or around it.
func (d *decoder) suppressed(field string) bool {
	for p := field; p != ""; p = parentPath(p) {
		if d.bad[p] {
			return true
		}
	}
	for b := range d.bad {
		if strings.HasPrefix(b, field+".") || strings.HasPrefix(b, field+"[") {
			return true
		}
	}
	return false
}

// normalize resolves anchors, aliases and tags and classifies a node.
func (d *decoder) normalize(n ast.Node, depth int) val {
	v := val{line: lineOf(n)}
	switch n := n.(type) {
	case nil:
		v.kind = kNull
	case *ast.NullNode:
		v.kind = kNull
	case *ast.StringNode:
		v.kind, v.text = kString, n.Value
		if tk := n.GetToken(); tk != nil {
			v.quoted = tk.Type == token.SingleQuoteType || tk.Type == token.DoubleQuoteType
		}
	case *ast.LiteralNode:
		v.kind = kString
		if n.Value != nil {
			v.text = n.Value.Value
		}
	case *ast.IntegerNode:
		v.kind, v.text = kInt, tokenText(n)
		switch x := n.Value.(type) {
		case int64:
			v.i = x
		case uint64:
			if x > math.MaxInt64 {
				v.big = true
			} else {
				v.i = int64(x)
			}
		default:
			v.big = true
		}
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		v.kind, v.text = kFloat, tokenText(n)
	case *ast.BoolNode:
		v.kind, v.text = kBool, tokenText(n)
	case *ast.SequenceNode:
		v.kind, v.seq = kList, n.Values
	case *ast.MappingNode:
		v.kind, v.m = kMap, n
	case *ast.MappingValueNode:
		v.kind, v.m = kMap, &ast.MappingNode{BaseNode: &ast.BaseNode{}, Start: n.GetToken(), Values: []*ast.MappingValueNode{n}}
	case *ast.AnchorNode:
		return d.normalize(n.Value, depth)
	case *ast.AliasNode:
		name := ""
		if n.Value != nil && n.Value.GetToken() != nil {
			name = n.Value.GetToken().Value
		}
		target, ok := d.anchors[name]
		switch {
		case !ok:
			v.kind, v.what = kOther, fmt.Sprintf("the alias *%s, whose anchor &%s is not defined", name, name)
		case depth >= maxAliasDepth:
			v.kind, v.what = kOther, fmt.Sprintf("the alias *%s, which refers to itself", name)
		default:
			r := d.normalize(target, depth+1)
			r.line = v.line // report uses of an alias where they are written
			return r
		}
	case *ast.TagNode:
		tag := ""
		if n.Start != nil {
			tag = n.Start.Value
		}
		inner := d.normalize(n.Value, depth)
		switch tag {
		case "!!str", "tag:yaml.org,2002:str":
			switch inner.kind {
			case kInt, kFloat, kBool:
				inner.kind, inner.quoted = kString, true
			case kNull:
				inner.kind, inner.text, inner.quoted = kString, "", true
			}
			return inner
		case "!!int", "!!float", "!!bool", "!!null", "!!seq", "!!map":
			return inner
		}
		v.kind, v.what = kOther, fmt.Sprintf("a value tagged %s (Spacepods knows no tags)", tag)
	default:
		v.kind, v.what = kOther, "a YAML "+n.Type().String()
	}
	return v
}

// tokenText returns a node's source text.
func tokenText(n ast.Node) string {
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return n.String()
}

// keyText returns the text of a mapping key, or a problem message.
func (d *decoder) keyText(k ast.MapKeyNode) (string, string) {
	var n ast.Node = k
	for {
		switch x := n.(type) {
		case *ast.MappingKeyNode:
			n = x.Value
			continue
		case *ast.AnchorNode:
			n = x.Value
			continue
		case *ast.TagNode:
			n = x.Value
			continue
		case *ast.MergeKeyNode:
			return "", "merge keys (<<) are not supported: write the keys out"
		case *ast.StringNode:
			return x.Value, ""
		case nil:
			return "", "a key is missing: write key: value"
		}
		v := d.normalize(n, 0)
		if v.kind == kString {
			return v.text, ""
		}
		return "", fmt.Sprintf("a key must be a name, found %s", v.describe())
	}
}

// mapping walks a mapping's entries, rejecting duplicate keys and (when
// valid is not nil) unknown ones, and calls fn for each accepted entry with
// its key, value and field path.
func (d *decoder) mapping(path string, m *ast.MappingNode, valid []string, fn func(key, field string, v val)) {
	first := map[string]int{}
	for _, kv := range m.Values {
		if kv == nil {
			continue
		}
		keyLine := lineOf(kv.Key)
		if keyLine < 1 {
			keyLine = lineOf(kv)
		}
		key, msg := d.keyText(kv.Key)
		if msg != "" {
			d.note(max(keyLine, 1), path, msg)
			continue
		}
		field := join(path, key)
		if l, dup := first[key]; dup {
			d.note(max(keyLine, 1), field, fmt.Sprintf("duplicate key %q (first at line %d): keep one", key, l))
			continue
		}
		first[key] = keyLine
		if valid != nil && !contains(valid, key) {
			d.unknownKey(max(keyLine, 1), path, key, valid)
			continue
		}
		d.record(field, keyLine)
		v := d.normalize(kv.Value, 0)
		if v.line < 1 || v.kind == kList || v.kind == kMap {
			v.line = keyLine // a block list or mapping starts on the next line
		}
		fn(key, field, v)
	}
}

// unknownKey reports a key that is not in valid, with a suggestion.
func (d *decoder) unknownKey(line int, path, key string, valid []string) {
	msg := fmt.Sprintf("unknown key %q: ", key)
	if s := suggestKey(key, valid); s != "" {
		msg += fmt.Sprintf("did you mean %q? ", s)
		d.bad[join(path, s)] = true // don't also say that s is missing
	} else if path == "" {
		if section, ok := movedKeys[key]; ok {
			msg += section + "; "
		}
	}
	msg += "valid keys are " + strings.Join(valid, ", ")
	d.note(line, path, msg)
}

// join builds a field path: join("database", "engine") = "database.engine".
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// expectMap returns the mapping in v, reporting anything else.
func (d *decoder) expectMap(field string, v val, example string) *ast.MappingNode {
	if v.kind == kMap {
		return v.m
	}
	d.problem(v.line, field, fmt.Sprintf("expected a mapping of keys to values, found %s: write e.g. %s", v.describe(), example))
	return nil
}

// str decodes a text value; null is "".
func (d *decoder) str(field string, v val, example string) string {
	d.record(field, v.line)
	switch v.kind {
	case kNull:
		return ""
	case kString:
		return v.text
	case kInt, kFloat, kBool:
		d.problem(v.line, field, fmt.Sprintf("expected text, found %s: write e.g. %s, or quote the value: %q", v.describe(), example, v.text))
	default:
		d.problem(v.line, field, fmt.Sprintf("expected text, found %s: write e.g. %s", v.describe(), example))
	}
	return ""
}

// duration decodes a duration written as text (10m, 90s, 1h30m); null is
// "". Its range is App.Validate's to check.
func (d *decoder) duration(field string, v val, example string) string {
	d.record(field, v.line)
	switch v.kind {
	case kNull:
		return ""
	case kString:
		return v.text
	case kInt:
		d.problem(v.line, field, fmt.Sprintf("expected a duration with its unit, found %s: write e.g. %s (s, m or h)", v.describe(), withKey(field, v.text+"s")))
	default:
		d.problem(v.line, field, fmt.Sprintf("expected a duration, found %s: write e.g. %s", v.describe(), example))
	}
	return ""
}

var intLikeRE = regexp.MustCompile(`^[-+]?[0-9][0-9_]*%?$`)

// integer decodes a whole number; null is 0.
func (d *decoder) integer(field string, v val, example string) int {
	d.record(field, v.line)
	switch v.kind {
	case kNull:
		return 0
	case kInt:
		if v.big || v.i > math.MaxInt32 || v.i < math.MinInt32 {
			d.problem(v.line, field, fmt.Sprintf("the number %s is out of range: write e.g. %s", clip(v.text), example))
			return 0
		}
		return int(v.i)
	case kString:
		t := strings.TrimSpace(v.text)
		switch {
		case v.quoted && intLikeRE.MatchString(t) && !strings.HasSuffix(t, "%"):
			d.problem(v.line, field, fmt.Sprintf("expected a whole number, found the string %q: write %s (without quotes)", clip(v.text), withKey(field, t)))
		case strings.HasSuffix(t, "%") && intLikeRE.MatchString(t):
			d.problem(v.line, field, fmt.Sprintf("expected a whole number, found %q: write %s (without the %%)", clip(v.text), withKey(field, strings.TrimSuffix(t, "%"))))
		case !v.quoted && intLikeRE.MatchString(t):
			d.problem(v.line, field, fmt.Sprintf("the number %s is out of range: write e.g. %s", clip(t), example))
		default:
			d.problem(v.line, field, fmt.Sprintf("expected a whole number, found %s: write e.g. %s", v.describe(), example))
		}
	default:
		d.problem(v.line, field, fmt.Sprintf("expected a whole number, found %s: write e.g. %s", v.describe(), example))
	}
	return 0
}

// withKey renders a value as the user would write it: "port: 8080" for a
// key, just "50" for a list element.
func withKey(field, value string) string {
	if field == "" || strings.HasSuffix(field, "]") {
		return value
	}
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		field = field[i+1:]
	}
	return field + ": " + value
}

// strList decodes a list of text values; null is nil. A string given where a
// list belongs gets a suggestion built from it (fix makes one).
func (d *decoder) strList(field string, v val, example string, fix func(string) string) []string {
	switch v.kind {
	case kNull:
		return nil
	case kList:
		out := make([]string, len(v.seq))
		for i, n := range v.seq {
			ev := d.normalize(n, 0)
			ef := fmt.Sprintf("%s[%d]", field, i)
			if ev.line < 1 {
				ev.line = v.line
			}
			d.record(ef, ev.line)
			switch ev.kind {
			case kString:
				out[i] = ev.text
			case kInt, kFloat, kBool:
				d.problem(ev.line, ef, fmt.Sprintf("expected text, found %s: quote it, %q", ev.describe(), ev.text))
			default:
				d.problem(ev.line, ef, fmt.Sprintf("expected text, found %s: write a list of strings, e.g. %s", ev.describe(), example))
			}
		}
		return out
	case kString:
		d.problem(v.line, field, fmt.Sprintf("expected a list, found %s: write %s", v.describe(), fix(v.text)))
	default:
		d.problem(v.line, field, fmt.Sprintf("expected a list, found %s: write e.g. %s", v.describe(), example))
	}
	return nil
}

// app decodes the top-level mapping.
func (d *decoder) app(root val) *spacepods.App {
	a := &spacepods.App{}
	d.mapping("", root.m, appKeys, func(key, field string, v val) {
		switch key {
		case "name":
			a.Name = d.str(field, v, "name: catalog-api")
		case "repo":
			a.Repo = d.str(field, v, "repo: acme/catalog-api")
		case "kind":
			a.Kind = d.str(field, v, "kind: web")
		case "port":
			a.Port = d.integer(field, v, "port: 8080")
		case "health":
			a.Health = d.str(field, v, "health: /healthz")
		case "command":
			a.Command = d.strList(field, v, `command: ["/app", "serve"]`, func(s string) string { return "command: " + quoteArgs(s) })
		case "args":
			a.Args = d.strList(field, v, `args: ["serve"]`, func(s string) string { return "args: " + quoteArgs(s) })
		case "migrate":
			a.Migrate = d.strList(field, v, `migrate: ["/app", "migrate"]`, func(s string) string { return "migrate: " + quoteArgs(s) })
		case "migrate_timeout":
			a.MigrateTimeout = d.duration(field, v, "migrate_timeout: 10m")
		case "dependencies":
			a.Dependencies = d.strList(field, v, "dependencies: [pricing-api]", func(s string) string {
				return "dependencies: [" + strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }), ", ") + "]"
			})
		case "database":
			a.Database = d.database(field, v)
		case "env":
			a.Env = d.env(field, v)
		case "rollout":
			d.rollout(field, v, &a.Rollout)
		case "workers":
			a.Workers = d.workers(field, v)
		case "tests":
			a.Tests = d.tests(field, v)
		case "previews":
			a.Previews = d.previews(field, v)
		case "pipeline":
			a.Pipeline = d.pipeline(field, v)
		case "build":
			a.Build = d.build(field, v)
		case "image":
			a.Image = d.image(field, v)
		}
	})
	return a
}

func (d *decoder) image(field string, v val) *spacepods.Image {
	if v.kind == kNull {
		return nil
	}
	if v.kind == kString {
		d.problem(v.line, field, fmt.Sprintf("image is a mapping: write image: {repository: %s} (the repository on the registry, without host or tag)", bareRepository(v.text)))
		return nil
	}
	m := d.expectMap(field, v, "image: {repository: acme/catalog-api}")
	if m == nil {
		return nil
	}
	img := &spacepods.Image{}
	d.mapping(field, m, imageKeys, func(key, f string, v val) {
		if key == "repository" {
			img.Repository = d.str(f, v, "repository: acme/catalog-api")
		}
	})
	return img
}

// bareRepository strips the registry host and the tag or digest off an
// image reference, for a suggestion.
func bareRepository(ref string) string {
	if first, rest, ok := strings.Cut(ref, "/"); ok && strings.ContainsAny(first, ".:") {
		ref = rest
	}
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

func (d *decoder) database(field string, v val) *spacepods.Database {
	if v.kind == kNull {
		return nil
	}
	if v.kind == kString && v.text == "postgres" {
		d.problem(v.line, field, "database is a mapping: write database: {engine: postgres}")
		return nil
	}
	m := d.expectMap(field, v, "database: {engine: postgres, seed: db/seed.sql}")
	if m == nil {
		return nil
	}
	db := &spacepods.Database{}
	d.mapping(field, m, databaseKeys, func(key, f string, v val) {
		switch key {
		case "engine":
			db.Engine = d.str(f, v, "engine: postgres")
		case "seed":
			db.Seed = d.str(f, v, "seed: db/seed.sql")
		case "snapshot":
			db.Snapshot = d.str(f, v, "snapshot: nightly")
		}
	})
	return db
}

func (d *decoder) env(field string, v val) map[string]string {
	if v.kind == kNull {
		return nil
	}
	if v.kind == kList {
		d.problem(v.line, field, "expected a mapping of names to values, found a list: write env: {LOG_LEVEL: info} (or one NAME: value per line), not - NAME=value")
		return nil
	}
	m := d.expectMap(field, v, "env: {LOG_LEVEL: info}")
	if m == nil {
		return nil
	}
	env := map[string]string{}
	d.mapping(field, m, nil, func(key, f string, v val) {
		switch v.kind {
		case kString:
			env[key] = v.text
		case kNull:
			d.problem(v.line, f, fmt.Sprintf("has no value: write %s: \"\" for an empty value, or remove it", key))
		case kInt, kFloat, kBool:
			d.problem(v.line, f, fmt.Sprintf("expected text, found %s: env values are strings, quote it: %s: %q", v.describe(), key, v.text))
		default:
			d.problem(v.line, f, fmt.Sprintf("expected text, found %s: write e.g. %s: \"value\"", v.describe(), key))
		}
	})
	return env
}

func (d *decoder) rollout(field string, v val, r *spacepods.Rollout) {
	if v.kind == kNull {
		return
	}
	m := d.expectMap(field, v, "rollout: {stages: [25, 50, 100], replicas: {default: 1, production: 4}}")
	if m == nil {
		return
	}
	d.mapping(field, m, rolloutKeys, func(key, f string, v val) {
		switch key {
		case "stages":
			r.Stages = d.stages(f, v)
		case "replicas":
			r.Replicas = d.replicas(f, v)
		}
	})
}

func (d *decoder) stages(field string, v val) []int {
	switch v.kind {
	case kNull:
		return nil
	case kList:
		out := make([]int, len(v.seq))
		for i, n := range v.seq {
			ev := d.normalize(n, 0)
			if ev.line < 1 {
				ev.line = v.line
			}
			out[i] = d.integer(fmt.Sprintf("%s[%d]", field, i), ev, "25 (a percentage)")
		}
		return out
	case kInt:
		d.problem(v.line, field, fmt.Sprintf("expected a list of percentages, found %s: write e.g. stages: [25, 50, 100] (or [100] to move all traffic at once)", v.describe()))
	default:
		d.problem(v.line, field, fmt.Sprintf("expected a list of percentages, found %s: write e.g. stages: [25, 50, 100]", v.describe()))
	}
	return nil
}

func (d *decoder) replicas(field string, v val) map[string]int {
	if v.kind == kNull {
		return nil
	}
	if v.kind == kInt {
		d.problem(v.line, field, fmt.Sprintf("expected a mapping of environments to counts, found %s: write replicas: {default: %s}", v.describe(), v.text))
		return nil
	}
	m := d.expectMap(field, v, "replicas: {default: 1, production: 4}")
	if m == nil {
		return nil
	}
	out := map[string]int{}
	d.mapping(field, m, nil, func(key, f string, v val) {
		if v.kind == kNull {
			d.problem(v.line, f, fmt.Sprintf("has no value: write %s: 1 (a number of replicas), or remove it", key))
			return
		}
		n := d.integer(f, v, key+": 2")
		if !d.bad[f] {
			out[key] = n
		}
	})
	return out
}

func (d *decoder) workers(field string, v val) []spacepods.Worker {
	const example = `workers: [{name: jobs, command: ["/app", "worker"]}]`
	switch v.kind {
	case kNull:
		return nil
	case kList:
	case kMap:
		d.problem(v.line, field, "expected a list of workers, found a mapping: start each worker with '- ', e.g. workers: [{name: jobs, command: [\"/app\", \"worker\"]}]")
		return nil
	default:
		d.problem(v.line, field, fmt.Sprintf("expected a list of workers, found %s: write e.g. %s", v.describe(), example))
		return nil
	}
	out := make([]spacepods.Worker, len(v.seq))
	for i, n := range v.seq {
		ef := fmt.Sprintf("%s[%d]", field, i)
		ev := d.normalize(n, 0)
		if ev.line < 1 {
			ev.line = v.line
		}
		d.record(ef, ev.line)
		if ev.kind != kMap {
			d.problem(ev.line, ef, fmt.Sprintf("expected a worker (a mapping with name and command), found %s: write e.g. - {name: jobs, command: [\"/app\", \"worker\"]}", ev.describe()))
			continue
		}
		w := &out[i]
		d.mapping(ef, ev.m, workerKeys, func(key, f string, v val) {
			switch key {
			case "name":
				w.Name = d.str(f, v, "name: jobs")
			case "command":
				w.Command = d.strList(f, v, `command: ["/app", "worker"]`, func(s string) string { return "command: " + quoteArgs(s) })
			case "args":
				w.Args = d.strList(f, v, `args: ["worker"]`, func(s string) string { return "args: " + quoteArgs(s) })
			}
		})
	}
	return out
}

func (d *decoder) tests(field string, v val) *spacepods.TestSuite {
	if v.kind == kNull {
		return nil
	}
	m := d.expectMap(field, v, `tests: {image: acme/catalog-api-tests, command: ["/tests"]}`)
	if m == nil {
		return nil
	}
	t := &spacepods.TestSuite{}
	d.mapping(field, m, testsKeys, func(key, f string, v val) {
		switch key {
		case "image":
			t.Image = d.str(f, v, "image: acme/catalog-api-tests")
		case "command":
			t.Command = d.strList(f, v, `command: ["/tests"]`, func(s string) string { return "command: " + quoteArgs(s) })
		case "args":
			t.Args = d.strList(f, v, `args: ["-v"]`, func(s string) string { return "args: " + quoteArgs(s) })
		case "timeout":
			t.Timeout = d.duration(f, v, "timeout: 10m")
		}
	})
	return t
}

func (d *decoder) previews(field string, v val) *spacepods.Previews {
	if v.kind == kNull {
		return nil
	}
	m := d.expectMap(field, v, `previews: {when: label, label: preview}`)
	if m == nil {
		return nil
	}
	p := &spacepods.Previews{}
	d.mapping(field, m, previewsKeys, func(key, f string, v val) {
		switch key {
		case "when":
			p.When = d.str(f, v, "when: all")
		case "label":
			p.Label = d.str(f, v, "label: preview")
		case "ttl":
			p.TTL = d.duration(f, v, "ttl: 48h")
		}
	})
	return p
}

func (d *decoder) build(field string, v val) *spacepods.BuildSource {
	if v.kind == kNull {
		return nil
	}
	if v.kind == kString {
		d.problem(v.line, field, fmt.Sprintf("build is a mapping: write build: {git: %s}", v.text))
		return nil
	}
	m := d.expectMap(field, v, "build: {git: https://git.example.com/acme/catalog-api.git, dockerfile: Dockerfile}")
	if m == nil {
		return nil
	}
	b := &spacepods.BuildSource{}
	d.mapping(field, m, buildKeys, func(key, f string, v val) {
		switch key {
		case "git":
			b.Git = d.str(f, v, "git: https://git.example.com/acme/catalog-api.git")
		case "context":
			b.Context = d.str(f, v, "context: .")
		case "dockerfile":
			b.Dockerfile = d.str(f, v, "dockerfile: Dockerfile")
		}
	})
	return b
}

// movedKeys hints, for a key found at the top level, where it belongs.
var movedKeys = map[string]string{
	"engine":     "engine belongs under database: write database: {engine: postgres}",
	"seed":       "seed belongs under database: write database: {engine: postgres, seed: db/seed.sql}",
	"snapshot":   "snapshot belongs under database: write database: {engine: postgres, snapshot: nightly}",
	"stages":     "stages belongs under rollout: write rollout: {stages: [25, 50, 100]}",
	"replicas":   "replicas belongs under rollout: write rollout: {replicas: {default: 1, production: 4}}",
	"timeout":    "the migration's timeout is migrate_timeout: 10m; the tests' goes under tests: {timeout: 10m}",
	"dockerfile": "dockerfile belongs under build: write build: {git: URL, dockerfile: Dockerfile}",
	"git":        "the clone URL belongs under build: write build: {git: URL}",
}

// keyAliases maps names people often write to the key Spacepods uses.
var keyAliases = map[string]string{
	"deps": "dependencies", "depends_on": "dependencies", "depends-on": "dependencies", "requires": "dependencies",
	"environment": "env", "env_vars": "env", "vars": "env", "variables": "env",
	"cmd": "command", "entrypoint": "command", "arguments": "args", "argv": "args",
	"migrate-timeout": "migrate_timeout", "migration_timeout": "migrate_timeout", "migrate_time": "migrate_timeout",
	"healthcheck": "health", "health_check": "health", "health-check": "health", "healthz": "health",
	"type": "kind", "db": "database", "migration": "migrate", "migrations": "migrate",
	"test": "tests", "worker": "workers", "processes": "workers", "repository": "repo", "git_url": "git", "docker_file": "dockerfile", "builder": "build",
	"stage": "stages", "replica": "replicas", "seed_sql": "seed", "seed-file": "seed",
}

// suggestKey returns the valid key that key was most likely meant to be.
func suggestKey(key string, valid []string) string {
	lk := strings.ToLower(key)
	if a, ok := keyAliases[lk]; ok && contains(valid, a) {
		return a
	}
	best, bestD := "", 3
	for _, v := range valid {
		dist := levenshtein(lk, v)
		if dist < bestD && dist <= len(v)/3+1 {
			best, bestD = v, dist
		}
	}
	return best
}

// levenshtein returns the edit distance between a and b.
func levenshtein(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
