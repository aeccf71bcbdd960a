package ui

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// pageNames are the page templates; each is parsed with layout.html and
// partials.html into its own set.
var pageNames = []string{"login", "error", "dashboard", "apps", "app", "pods", "newpod", "env", "logs", "deploys", "deploy", "environments", "audit", "leaks", "deployplan", "test", "pipeline", "buildjob", "deliveries", "notifications", "registry"}

func (u *UI) parsePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"asset":      func(name string) string { return u.assets[name] },
		"ago":        func(t time.Time) string { return ago(u.cfg.Now(), t) },
		"agoPtr":     func(t *time.Time) string { return agoPtr(u.cfg.Now(), t) },
		"until":      func(t *time.Time) string { return until(u.cfg.Now(), t) },
		"stamp":      stamp,
		"stampPtr":   func(t *time.Time) string { return stampPtr(t) },
		"took":       took,
		"short":      shortSHA,
		"statusWord": statusWord,
		"stepLabel":  stepLabel,
		"join":       strings.Join,
		"sortedKeys": sortedKeys,
		"add":        func(a, b int) int { return a + b },
		"contains": func(list []string, s string) bool {
			for _, x := range list {
				if x == s {
					return true
				}
			}
			return false
		},
		"transitional": transitional,
		"scopeTitle":   scopeTitle,
	}
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t := template.New(name).Funcs(funcs)
		t = template.Must(t.ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/"+name+".html"))
		pages[name] = t
	}
	return pages
}

// assetURLs maps each static file to its URL with a content hash, so that
// browsers may cache it for good.
func assetURLs() map[string]string {
	out := map[string]string{}
	_ = fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error { // the embedded FS cannot fail to walk; a missing asset just gets no hash
		if err != nil || d.IsDir() {
			return err
		}
		data, err := staticFS.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		name := strings.TrimPrefix(path, "static/")
		out[name] = "/ui/static/" + name + "?v=" + hex.EncodeToString(sum[:6])
		return nil
	})
	return out
}

// ago says how long ago t was, in the largest unit that fits: "12s ago",
// "5m ago", "3h ago", "2d ago".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := now.Sub(t)
	if d < 0 {
		return "just now"
	}
	return short(d) + " ago"
}

func agoPtr(now time.Time, t *time.Time) string {
	if t == nil {
		return "—"
	}
	return ago(now, *t)
}

// until says how long until t: "in 23h", or "expired 5m ago".
func until(now time.Time, t *time.Time) string {
	if t == nil {
		return "never"
	}
	d := t.Sub(now)
	if d <= 0 {
		return "expired " + short(-d) + " ago"
	}
	return "in " + short(d)
}

func short(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		h := int(d.Hours())
		if m := int(d.Minutes()) % 60; h < 10 && m != 0 {
			return fmt.Sprintf("%dh %dm", h, m)
		}
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dd", int(math.Round(d.Hours()/24)))
}

// stamp is an absolute UTC time for title attributes and tables.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func stampPtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return stamp(*t)
}

// took is the duration between two times ("" when not both are known).
func took(from, to *time.Time) string {
	if from == nil || to == nil {
		return ""
	}
	d := to.Sub(*from)
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

func shortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// statusWord is a status as people write it: rolled_back → rolled back.
func statusWord(s string) string { return strings.ReplaceAll(s, "_", " ") }

// transitional reports whether a status is on its way to another.
func transitional(s string) bool {
	switch s {
	case spacepods.StatusCreating, spacepods.StatusUpdating, spacepods.StatusDestroying,
		spacepods.DeployQueued, spacepods.DeployRunning, "pending", "deploying":
		return true
	}
	return false
}

var stepLabels = map[string]string{
	"clear_stale":      "Clear stale services",
	"register_release": "Register release",
	"migrate":          "Run migrations",
	"create_service":   "Create service and routing",
	"rollout":          "Staged rollout",
}

func stepLabel(name string) string {
	if l, ok := stepLabels[name]; ok {
		return l
	}
	return statusWord(name)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
