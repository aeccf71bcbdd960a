package spacepods

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// ManifestChange is one field that differs between two versions of an
// app's manifest.
type ManifestChange struct {
	// Field is a dotted path: command, migrate, env.LOG_LEVEL,
	// database.snapshot, workers.jobs.command, rollout.replicas.production.
	Field string `json:"field"`
	From  string `json:"from"` // compact JSON of the old value, "(none)" when absent
	To    string `json:"to"`   // compact JSON of the new value, "(none)" when absent
	// AltersRun is set for a change to what runs (see AltersRun).
	AltersRun bool `json:"alters_run"`
}

// String renders a change as "migrate: ["/app","migrate"] → ["/app","up"]".
func (c ManifestChange) String() string { return c.Field + ": " + c.From + " → " + c.To }

// AltersRun reports whether a change to the manifest field (a dotted path
// of DiffManifests) alters what runs in an environment: the processes
// (command, migrate, workers, tests), their inputs (env, port, kind,
// dependencies, database) and anything a later version of the manifest
// adds. Only the rollout policy (how many replicas, in which stages), the
// repository links (repo, image), the health check path and the pull
// request preview policy do not: they change how an app is rolled out,
// watched or previewed, not what it executes; nor does the build source
// (build: git, dockerfile), which says how images are made, while a release
// runs the image of its build. Deny by default, so
// that a new manifest key needs no change here to be guarded.
func AltersRun(field string) bool {
	top, _, _ := strings.Cut(field, ".")
	switch top {
	case "rollout", "repo", "health", "previews", "build", "image":
		return false
	}
	return true
}

const noValue = "(none)"

// DiffManifests lists the fields that differ between two manifests of an
// app, sorted by field. Registration metadata (version, times) is ignored.
// Long or multi-line strings (seed SQL) are shown by size and digest.
func DiffManifests(from, to App) []ManifestChange {
	a, b := map[string]any{}, map[string]any{}
	flattenManifest("", manifestTree(from), a)
	flattenManifest("", manifestTree(to), b)
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	var out []ManifestChange
	for k := range keys {
		va, oka := a[k]
		vb, okb := b[k]
		if oka && okb && reflect.DeepEqual(va, vb) {
			continue
		}
		out = append(out, ManifestChange{Field: k, From: renderValue(va, oka), To: renderValue(vb, okb), AltersRun: AltersRun(k)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// ChangesAlteringRun returns the changes that alter what runs.
func ChangesAlteringRun(changes []ManifestChange) []ManifestChange {
	var out []ManifestChange
	for _, c := range changes {
		if c.AltersRun {
			out = append(out, c)
		}
	}
	return out
}

// SummarizeChanges joins changes into one line of at most max bytes (0: no
// limit), saying how many were left out.
func SummarizeChanges(changes []ManifestChange, max int) string {
	if len(changes) == 0 {
		return "no changes"
	}
	var b strings.Builder
	for i, c := range changes {
		s := c.String()
		if i > 0 {
			s = "; " + s
		}
		if max > 0 && b.Len()+len(s) > max {
			fmt.Fprintf(&b, "; … and %d more", len(changes)-i)
			break
		}
		b.WriteString(s)
	}
	return b.String()
}

// manifestTree is an app as generic JSON values, without registration
// metadata.
func manifestTree(app App) map[string]any {
	raw, err := json.Marshal(app)
	if err != nil {
		return map[string]any{}
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return map[string]any{}
	}
	delete(m, "version")
	delete(m, "created_at")
	delete(m, "updated_at")
	return m
}

// flattenManifest writes the leaves of v under dotted paths. Objects are
// walked; lists of named objects (workers) are walked by name; other lists
// are leaves.
func flattenManifest(path string, v any, out map[string]any) {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 && path != "" {
			out[path] = t
			return
		}
		for k, sub := range t {
			flattenManifest(join(k), sub, out)
		}
	case []any:
		if named, ok := byName(t); ok {
			for name, sub := range named {
				flattenManifest(join(name), sub, out)
			}
			return
		}
		out[path] = t
	default:
		out[path] = t
	}
}

// byName turns a list of objects that each have a unique string "name"
// into name → the object without its name.
func byName(list []any) (map[string]any, bool) {
	if len(list) == 0 {
		return nil, false
	}
	out := map[string]any{}
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		name, ok := m["name"].(string)
		if !ok || name == "" || out[name] != nil {
			return nil, false
		}
		rest := map[string]any{}
		for k, v := range m {
			if k != "name" {
				rest[k] = v
			}
		}
		out[name] = rest
	}
	return out, true
}

func renderValue(v any, present bool) string {
	if !present || v == nil {
		return noValue
	}
	if s, ok := v.(string); ok && (len(s) > 200 || strings.Contains(s, "\n")) {
		sum := sha256.Sum256([]byte(s))
		return fmt.Sprintf("(%d bytes, sha256 %x…)", len(s), sum[:6])
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(raw)
}
