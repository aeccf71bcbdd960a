package ui

import (
	"fmt"
	"html/template"
	"sort"
	"strings"

	"github.com/spacepods/spacepods/internal/catalog"
)

// Layout of the dependency picture, in SVG user units (CSS pixels at 100%).
const (
	graphBoxH    = 46.0
	graphGapX    = 28.0
	graphGapY    = 56.0
	graphPad     = 16.0
	graphCharW   = 8.2 // width of one character of a name at 14px, bold sans
	graphMinBoxW = 110.0
)

// graphNode is one app in the picture.
type graphNode struct {
	Name    string
	Kind    string // web, worker, or "" when not registered
	Level   int    // dependency depth: the longest path from a root
	Root    bool
	Missing bool
	X, Y, W float64
	order   float64
}

// graphEdge points from an app to one of its dependencies.
type graphEdge struct{ From, To string }

// depGraph is the laid-out dependency graph of some root apps.
type depGraph struct {
	Nodes         []*graphNode
	Edges         []graphEdge
	Width, Height float64
	byName        map[string]*graphNode
}

// layoutGraph collects roots and everything they depend on from g and lays
// them out in rows by dependency depth: roots on top, each app one row
// below the lowest app that needs it, arrows pointing down from an app to
// its dependencies. kinds gives each app's kind (for the second line).
func layoutGraph(g *catalog.Graph, roots []string, kinds map[string]string) *depGraph {
	dg := &depGraph{byName: map[string]*graphNode{}}
	var queue []string
	add := func(name string, root bool) {
		if n, ok := dg.byName[name]; ok {
			n.Root = n.Root || root
			return
		}
		n := &graphNode{Name: name, Kind: kinds[name], Root: root, Missing: !g.Has(name)}
		dg.byName[name] = n
		dg.Nodes = append(dg.Nodes, n)
		queue = append(queue, name)
	}
	for _, r := range roots {
		add(r, true)
	}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		for _, d := range g.Dependencies(name) {
			add(d, false)
			dg.Edges = append(dg.Edges, graphEdge{From: name, To: d})
		}
	}
	// Longest path from a root, by relaxation; the bound keeps a cycle
	// (which registration rejects anyway) from looping.
	for i := 0; i < len(dg.Nodes); i++ {
		changed := false
		for _, e := range dg.Edges {
			from, to := dg.byName[e.From], dg.byName[e.To]
			if to.Level < from.Level+1 && from.Level+1 < len(dg.Nodes) {
				to.Level = from.Level + 1
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	dg.place()
	return dg
}

// place orders each row by the mean position of the apps above that need
// it (fewer crossing arrows), then centres the rows.
func (dg *depGraph) place() {
	rows := map[int][]*graphNode{}
	maxLevel := 0
	for _, n := range dg.Nodes {
		rows[n.Level] = append(rows[n.Level], n)
		maxLevel = max(maxLevel, n.Level)
		n.W = max(graphMinBoxW, float64(len(n.Name))*graphCharW+32)
	}
	parents := map[string][]*graphNode{}
	for _, e := range dg.Edges {
		parents[e.To] = append(parents[e.To], dg.byName[e.From])
	}
	rowWidth := make([]float64, maxLevel+1)
	for lv := 0; lv <= maxLevel; lv++ {
		row := rows[lv]
		for _, n := range row {
			n.order = 0
			if ps := parents[n.Name]; len(ps) > 0 && lv > 0 {
				for _, p := range ps {
					n.order += p.X + p.W/2
				}
				n.order /= float64(len(ps))
			}
		}
		sort.SliceStable(row, func(i, j int) bool {
			if row[i].order != row[j].order {
				return row[i].order < row[j].order
			}
			return row[i].Name < row[j].Name
		})
		x := 0.0
		for i, n := range row {
			if i > 0 {
				x += graphGapX
			}
			n.X = x
			x += n.W
		}
		rowWidth[lv] = x
	}
	width := 0.0
	for _, w := range rowWidth {
		width = max(width, w)
	}
	for lv := 0; lv <= maxLevel; lv++ {
		shift := graphPad + (width-rowWidth[lv])/2
		for _, n := range rows[lv] {
			n.X += shift
			n.Y = graphPad + float64(lv)*(graphBoxH+graphGapY)
		}
	}
	dg.Width = width + 2*graphPad
	dg.Height = 2*graphPad + float64(maxLevel+1)*graphBoxH + float64(maxLevel)*graphGapY
}

// SVG draws the graph: boxes (links to each app's page) and arrows. Colours
// are presentation attributes, so the picture also looks right on its own
// (graph.svg); the stylesheet adds hover states. Sizes are in the viewBox,
// so it scales down on narrow screens.
func (dg *depGraph) SVG(title string) template.HTML {
	var b strings.Builder
	esc := template.HTMLEscapeString
	fmt.Fprintf(&b, `<svg class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="%.0f" role="img" aria-labelledby="graph-title">`, dg.Width, dg.Height, dg.Width)
	fmt.Fprintf(&b, `<title id="graph-title">%s</title>`, esc(title))
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead" fill="#7d8899"/></marker></defs>`)
	for _, e := range dg.Edges {
		from, to := dg.byName[e.From], dg.byName[e.To]
		x1, y1 := from.X+from.W/2, from.Y+graphBoxH
		x2, y2 := to.X+to.W/2, to.Y-2
		mid := (y2 - y1) / 2
		fmt.Fprintf(&b, `<path class="edge" data-from="%s" data-to="%s" d="M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="none" stroke="#7d8899" stroke-width="1.5" marker-end="url(#arrow)"><title>%s needs %s</title></path>`,
			esc(e.From), esc(e.To), x1, y1, x1, y1+mid, x2, y2-mid, x2, y2, esc(e.From), esc(e.To))
	}
	for _, n := range dg.Nodes {
		cls, fill, stroke, dash := "node", "#ffffff", "#9aa6b8", ""
		switch {
		case n.Missing:
			cls, fill, stroke, dash = "node missing", "#fff5f5", "#d9534f", ` stroke-dasharray="5 4"`
		case n.Root:
			cls, fill, stroke = "node root", "#e8efff", "#3b6cf6"
		}
		sub := n.Kind
		if n.Missing {
			sub = "not registered"
		}
		if !n.Missing {
			fmt.Fprintf(&b, `<a href="/apps/%s">`, esc(n.Name))
		}
		fmt.Fprintf(&b, `<g class="%s" data-app="%s" data-level="%d"><rect x="%.1f" y="%.1f" width="%.1f" height="%.0f" rx="8" fill="%s" stroke="%s" stroke-width="1.5"%s/>`, cls, esc(n.Name), n.Level, n.X, n.Y, n.W, graphBoxH, fill, stroke, dash)
		fmt.Fprintf(&b, `<text class="name" x="%.1f" y="%.1f" text-anchor="middle" font-family="system-ui, sans-serif" font-size="14" font-weight="600" fill="#1d2433">%s</text>`, n.X+n.W/2, n.Y+20, esc(n.Name))
		fmt.Fprintf(&b, `<text class="kind" x="%.1f" y="%.1f" text-anchor="middle" font-family="system-ui, sans-serif" font-size="12" fill="#5b6576">%s</text></g>`, n.X+n.W/2, n.Y+36, esc(sub))
		if !n.Missing {
			b.WriteString(`</a>`)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // the SVG is built with every name and label HTML-escaped
}
