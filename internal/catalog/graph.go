package catalog

import (
	"container/heap"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Graph is the dependency graph of registered apps. Names are interned to
// small integers when apps are added, so that closures over large catalogs
// stay cheap. A Graph may be read concurrently, but not while Add runs.
type Graph struct {
	index map[string]int32
	nodes []gnode
}

// gnode is one app, or a placeholder for a dependency not registered yet.
type gnode struct {
	name       string
	deps       []int32 // sorted by name, no duplicates
	registered bool
}

// NewGraph returns the graph of apps' declared dependencies.
func NewGraph(apps []spacepods.App) *Graph {
	g := &Graph{index: make(map[string]int32, len(apps)), nodes: make([]gnode, 0, len(apps))}
	for i := range apps {
		g.Add(apps[i].Name, apps[i].Dependencies)
	}
	return g
}

// NewGraphFromDeps returns the graph of a map from app name to the names of
// its dependencies.
func NewGraphFromDeps(deps map[string][]string) *Graph {
	g := &Graph{index: make(map[string]int32, len(deps)), nodes: make([]gnode, 0, len(deps))}
	names := make([]string, 0, len(deps))
	for name := range deps {
		names = append(names, name)
	}
	slices.Sort(names) // stable ids, whatever the map order
	for _, name := range names {
		g.Add(name, deps[name])
	}
	return g
}

// Add registers app name with its dependencies, replacing what an earlier
// Add said about it. Dependencies need not be registered yet.
func (g *Graph) Add(name string, deps []string) {
	id := g.id(name)
	ids := make([]int32, len(deps))
	for i, d := range deps {
		ids[i] = g.id(d)
	}
	if len(ids) > 1 {
		slices.SortFunc(ids, func(a, b int32) int { return strings.Compare(g.nodes[a].name, g.nodes[b].name) })
		ids = slices.Compact(ids)
	}
	g.nodes[id].deps = ids
	g.nodes[id].registered = true
}

// id returns the id of name, adding a placeholder node if it is new.
func (g *Graph) id(name string) int32 {
	if id, ok := g.index[name]; ok {
		return id
	}
	id := int32(len(g.nodes)) //nolint:gosec // a catalog graph has far fewer than 2^31 nodes
	g.nodes = append(g.nodes, gnode{name: name})
	g.index[name] = id
	return id
}

// lookup returns the id of a registered app.
func (g *Graph) lookup(name string) (int32, bool) {
	id, ok := g.index[name]
	if !ok || !g.nodes[id].registered {
		return 0, false
	}
	return id, true
}

// Has reports whether app name is registered.
func (g *Graph) Has(name string) bool {
	_, ok := g.lookup(name)
	return ok
}

// Dependencies returns the direct dependencies of app name, sorted, or nil.
func (g *Graph) Dependencies(name string) []string {
	id, ok := g.lookup(name)
	if !ok {
		return nil
	}
	out := make([]string, len(g.nodes[id].deps))
	for i, d := range g.nodes[id].deps {
		out[i] = g.nodes[d].name
	}
	return out
}

// Dependents returns the registered apps that depend directly on name, sorted.
func (g *Graph) Dependents(name string) []string {
	target, ok := g.index[name]
	if !ok {
		return nil
	}
	var out []string
	for i := range g.nodes {
		n := &g.nodes[i]
		if n.registered && slices.Contains(n.deps, target) {
			out = append(out, n.name)
		}
	}
	slices.Sort(out)
	return out
}

func notRegistered(name string) error {
	return spacepods.Errorf(spacepods.ENOTFOUND, "app %q is not registered: register it with spacepods app register -f spacepods.yaml, or check the name with spacepods app list", name)
}

// Closure returns roots and everything they depend on, recursively, in start
// order: every app after its dependencies, ties broken by name. Errors:
// ENOTFOUND for a root that is not registered; EINVALID for a dependency
// cycle (spelled out, e.g. "a -> b -> a") or for dependencies that are not
// registered (each named with the app that needs it).
func (g *Graph) Closure(roots []string) ([]string, error) {
	rootIDs := make([]int32, 0, len(roots))
	for _, r := range roots {
		id, ok := g.lookup(r)
		if !ok {
			return nil, notRegistered(r)
		}
		rootIDs = append(rootIDs, id)
	}
	slices.SortFunc(rootIDs, func(a, b int32) int { return strings.Compare(g.nodes[a].name, g.nodes[b].name) })

	// Depth-first walk: finds the reachable set, cycles and missing apps.
	const (
		white = iota
		grey  // on the current path
		black // done
	)
	state := make([]uint8, len(g.nodes))
	var (
		reached []int32
		path    []int32
		missing []string
		cycle   []int32
	)
	var visit func(id int32) bool
	visit = func(id int32) bool {
		state[id] = grey
		path = append(path, id)
		for _, d := range g.nodes[id].deps {
			if !g.nodes[d].registered {
				missing = append(missing, fmt.Sprintf("app %q depends on %q, which is not registered: register it first with spacepods app register -f <%s's spacepods.yaml>", g.nodes[id].name, g.nodes[d].name, g.nodes[d].name))
				continue
			}
			switch state[d] {
			case grey:
				i := slices.Index(path, d)
				cycle = slices.Clone(path[i:])
				return false
			case white:
				if !visit(d) {
					return false
				}
			}
		}
		path = path[:len(path)-1]
		state[id] = black
		reached = append(reached, id)
		return true
	}
	for _, r := range rootIDs {
		if state[r] == white && !visit(r) {
			return nil, spacepods.Errorf(spacepods.EINVALID, "dependency cycle: %s: remove one of these dependencies", g.cycleString(cycle))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, spacepods.Errorf(spacepods.EINVALID, "%s", strings.Join(slices.Compact(missing), "\n"))
	}

	// Kahn's algorithm, always taking the smallest ready name.
	local := make([]int32, len(g.nodes)) // node id → index in reached
	for i, id := range reached {
		local[id] = int32(i)
	}
	pending := make([]int, len(reached))        // unstarted dependencies
	dependents := make([][]int32, len(reached)) // local ids
	ready := &nameHeap{g: g}
	for i, id := range reached {
		deps := g.nodes[id].deps
		pending[i] = len(deps)
		for _, d := range deps {
			ld := local[d]
			dependents[ld] = append(dependents[ld], int32(i))
		}
		if len(deps) == 0 {
			ready.ids = append(ready.ids, id)
		}
	}
	heap.Init(ready)
	out := make([]string, 0, len(reached))
	for ready.Len() > 0 {
		id := heap.Pop(ready).(int32)
		out = append(out, g.nodes[id].name)
		for _, dep := range dependents[local[id]] {
			if pending[dep]--; pending[dep] == 0 {
				heap.Push(ready, reached[dep])
			}
		}
	}
	return out, nil
}

// cycleString renders a cycle from its smallest name: "a -> b -> c -> a".
func (g *Graph) cycleString(cycle []int32) string {
	start := 0
	for i, id := range cycle {
		if g.nodes[id].name < g.nodes[cycle[start]].name {
			start = i
		}
	}
	names := make([]string, 0, len(cycle)+1)
	for i := range cycle {
		names = append(names, g.nodes[cycle[(start+i)%len(cycle)]].name)
	}
	names = append(names, names[0])
	return strings.Join(names, " -> ")
}

// nameHeap is a min-heap of node ids ordered by name.
type nameHeap struct {
	g   *Graph
	ids []int32
}

func (h *nameHeap) Len() int           { return len(h.ids) }
func (h *nameHeap) Less(i, j int) bool { return h.g.nodes[h.ids[i]].name < h.g.nodes[h.ids[j]].name }
func (h *nameHeap) Swap(i, j int)      { h.ids[i], h.ids[j] = h.ids[j], h.ids[i] }
func (h *nameHeap) Push(x any)         { h.ids = append(h.ids, x.(int32)) }
func (h *nameHeap) Pop() any {
	x := h.ids[len(h.ids)-1]
	h.ids = h.ids[:len(h.ids)-1]
	return x
}

// CheckCycles returns an EINVALID error if registering app (or replacing its
// earlier version) would create a dependency cycle, spelling it out from app:
// "storefront -> catalog-api -> storefront". Dependencies that are not
// registered yet are fine here: they are an error only at Closure time.
func (g *Graph) CheckCycles(app spacepods.App) error {
	deps := slices.Clone(app.Dependencies)
	slices.Sort(deps)
	deps = slices.Compact(deps)
	target, known := g.index[app.Name]
	visited := make(map[int32]bool)
	var path []string
	// reaches reports whether target is reachable from id, leaving the way in path.
	var reaches func(id int32) bool
	reaches = func(id int32) bool {
		if id == target {
			return true
		}
		if visited[id] {
			return false
		}
		visited[id] = true
		for _, d := range g.nodes[id].deps {
			path = append(path, g.nodes[d].name)
			if reaches(d) {
				return true
			}
			path = path[:len(path)-1]
		}
		return false
	}
	for _, d := range deps {
		path = append(path[:0], app.Name, d)
		if d == app.Name {
			return g.cycleError(app.Name, path)
		}
		id, ok := g.index[d]
		if !ok || !known {
			continue // nothing registered can lead back to an app the graph has never seen
		}
		if reaches(id) {
			return g.cycleError(app.Name, path)
		}
	}
	return nil
}

func (g *Graph) cycleError(name string, path []string) error {
	return spacepods.Errorf(spacepods.EINVALID, "app %q would create a dependency cycle: %s: remove one of these dependencies", name, strings.Join(path, " -> "))
}

// Tree returns root's dependency tree, each app expanded only where it first
// appears (later appearances are marked Repeat), children sorted by name.
// It does not fail on cycles: the app closing a cycle is marked Repeat.
// Errors: ENOTFOUND when root is not registered.
func (g *Graph) Tree(root string) (*spacepods.TreeNode, error) {
	id, ok := g.lookup(root)
	if !ok {
		return nil, notRegistered(root)
	}
	seen := make(map[int32]bool)
	var build func(id int32) *spacepods.TreeNode
	build = func(id int32) *spacepods.TreeNode {
		n := &g.nodes[id]
		t := &spacepods.TreeNode{Name: n.name}
		switch {
		case !n.registered:
			t.Missing = true
		case seen[id]:
			t.Repeat = true
		default:
			seen[id] = true
			for _, d := range n.deps {
				t.Children = append(t.Children, build(d))
			}
		}
		return t
	}
	return build(id), nil
}

// RenderTree writes n as an ASCII tree, one app per line:
//
//	storefront
//	├── catalog-api
//	│   └── pricing-api
//	└── pricing-api (see above)
func RenderTree(w io.Writer, n *spacepods.TreeNode) error {
	if n == nil {
		return nil
	}
	var b strings.Builder
	b.WriteString(treeLabel(n))
	b.WriteByte('\n')
	renderChildren(&b, n.Children, "")
	_, err := io.WriteString(w, b.String())
	return err
}

func renderChildren(b *strings.Builder, children []*spacepods.TreeNode, prefix string) {
	for i, c := range children {
		branch, indent := "├── ", "│   "
		if i == len(children)-1 {
			branch, indent = "└── ", "    "
		}
		b.WriteString(prefix + branch + treeLabel(c) + "\n")
		renderChildren(b, c.Children, prefix+indent)
	}
}

func treeLabel(n *spacepods.TreeNode) string {
	switch {
	case n.Missing:
		return n.Name + " (not registered)"
	case n.Repeat:
		return n.Name + " (see above)"
	}
	return n.Name
}
