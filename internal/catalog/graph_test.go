package catalog

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// shop is a small system: a storefront over a catalog over pricing.
var shop = map[string][]string{
	"storefront":  {"catalog-api", "pricing-api", "auth"},
	"catalog-api": {"pricing-api"},
	"pricing-api": nil,
	"auth":        nil,
	"mailer":      {"auth"},
	"search":      {"catalog-api"},
}

func TestGraph_ClosureStartsDependenciesFirst(t *testing.T) {
	g := NewGraphFromDeps(shop)
	tests := []struct {
		name  string
		roots []string
		want  []string
	}{
		{"leaf", []string{"pricing-api"}, []string{"pricing-api"}},
		{"chain", []string{"catalog-api"}, []string{"pricing-api", "catalog-api"}},
		{"ties broken by name", []string{"storefront"}, []string{"auth", "pricing-api", "catalog-api", "storefront"}},
		{"several roots share dependencies", []string{"search", "mailer"}, []string{"auth", "mailer", "pricing-api", "catalog-api", "search"}},
		{"root order does not matter", []string{"mailer", "search"}, []string{"auth", "mailer", "pricing-api", "catalog-api", "search"}},
		{"root repeated and also a dependency", []string{"catalog-api", "storefront", "catalog-api"}, []string{"auth", "pricing-api", "catalog-api", "storefront"}},
		{"no roots", nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := g.Closure(tt.roots)
			if err != nil {
				t.Fatalf("Closure: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Closure(%v) = %v; want %v", tt.roots, got, tt.want)
			}
		})
	}
}

func TestGraph_ClosureFromApps(t *testing.T) {
	g := NewGraph([]spacepods.App{
		{Name: "b", Dependencies: []string{"a"}},
		{Name: "a"},
		{Name: "c", Dependencies: []string{"b", "a", "b"}},
	})
	got, err := g.Closure([]string{"c"})
	if err != nil || !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Fatalf("Closure = %v, %v", got, err)
	}
}

func TestGraph_ClosureSpellsOutCycles(t *testing.T) {
	tests := []struct {
		name  string
		deps  map[string][]string
		roots []string
		want  string
	}{
		{"three apps", map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}}, []string{"b"},
			"dependency cycle: a -> b -> c -> a: remove one of these dependencies"},
		{"two apps below the root", map[string][]string{"web": {"y"}, "y": {"x"}, "x": {"y"}}, []string{"web"},
			"dependency cycle: x -> y -> x: remove one of these dependencies"},
		{"self", map[string][]string{"a": {"a"}}, []string{"a"},
			"dependency cycle: a -> a: remove one of these dependencies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewGraphFromDeps(tt.deps).Closure(tt.roots)
			if spacepods.ErrorCode(err) != spacepods.EINVALID || spacepods.ErrorMessage(err) != tt.want {
				t.Fatalf("got %v\nwant %s: %s", err, spacepods.EINVALID, tt.want)
			}
		})
	}
}

func TestGraph_ClosureNamesMissingDependencies(t *testing.T) {
	g := NewGraphFromDeps(map[string][]string{
		"storefront": {"catalog-api", "auth"},
		"auth":       {"users"},
	})
	_, err := g.Closure([]string{"storefront"})
	want := `app "auth" depends on "users", which is not registered: register it first with spacepods app register -f <users's spacepods.yaml>
app "storefront" depends on "catalog-api", which is not registered: register it first with spacepods app register -f <catalog-api's spacepods.yaml>`
	if spacepods.ErrorCode(err) != spacepods.EINVALID || spacepods.ErrorMessage(err) != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	// A dependency that is registered later closes the gap.
	g.Add("catalog-api", nil)
	g.Add("users", nil)
	if got, err := g.Closure([]string{"storefront"}); err != nil || !reflect.DeepEqual(got, []string{"catalog-api", "users", "auth", "storefront"}) {
		t.Fatalf("after registering: %v, %v", got, err)
	}
}

func TestGraph_ClosureUnknownRootIsNotFound(t *testing.T) {
	g := NewGraphFromDeps(map[string][]string{"storefront": {"catalog-api"}})
	for _, root := range []string{"nope", "catalog-api"} { // never named, or only named as a dependency
		_, err := g.Closure([]string{"storefront", root})
		if spacepods.ErrorCode(err) != spacepods.ENOTFOUND || !strings.Contains(spacepods.ErrorMessage(err), fmt.Sprintf("app %q is not registered", root)) {
			t.Errorf("Closure(%q) = %v; want %s", root, err, spacepods.ENOTFOUND)
		}
	}
}

func TestGraph_CheckCycles(t *testing.T) {
	g := NewGraphFromDeps(shop)
	tests := []struct {
		name string
		app  spacepods.App
		want string // "" for no error
	}{
		{"new app on existing ones", spacepods.App{Name: "admin", Dependencies: []string{"storefront", "mailer"}}, ""},
		{"new app on unregistered ones", spacepods.App{Name: "admin", Dependencies: []string{"billing"}}, ""},
		{"update keeping the graph acyclic", spacepods.App{Name: "pricing-api", Dependencies: []string{"auth"}}, ""},
		{"update closing a cycle", spacepods.App{Name: "pricing-api", Dependencies: []string{"auth", "search"}},
			`app "pricing-api" would create a dependency cycle: pricing-api -> search -> catalog-api -> pricing-api: remove one of these dependencies`},
		{"direct two-app cycle", spacepods.App{Name: "auth", Dependencies: []string{"mailer"}},
			`app "auth" would create a dependency cycle: auth -> mailer -> auth: remove one of these dependencies`},
		{"self", spacepods.App{Name: "auth", Dependencies: []string{"auth"}},
			`app "auth" would create a dependency cycle: auth -> auth: remove one of these dependencies`},
		{"registered only as someone's dependency", spacepods.App{Name: "billing", Dependencies: []string{"storefront"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := g.CheckCycles(tt.app)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckCycles: %v", err)
				}
				return
			}
			if spacepods.ErrorCode(err) != spacepods.EINVALID || spacepods.ErrorMessage(err) != tt.want {
				t.Fatalf("got %v\nwant %s", err, tt.want)
			}
		})
	}

	// An app already named as a dependency closes a cycle when it depends back.
	g2 := NewGraphFromDeps(map[string][]string{"storefront": {"billing"}})
	err := g2.CheckCycles(spacepods.App{Name: "billing", Dependencies: []string{"storefront"}})
	if want := `app "billing" would create a dependency cycle: billing -> storefront -> billing: remove one of these dependencies`; spacepods.ErrorMessage(err) != want {
		t.Errorf("got %v; want %s", err, want)
	}
}

func TestGraph_DependentsAndDependencies(t *testing.T) {
	g := NewGraphFromDeps(shop)
	if got, want := g.Dependents("pricing-api"), []string{"catalog-api", "storefront"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Dependents = %v; want %v", got, want)
	}
	if got := g.Dependents("storefront"); got != nil {
		t.Errorf("Dependents(storefront) = %v", got)
	}
	if got, want := g.Dependencies("storefront"), []string{"auth", "catalog-api", "pricing-api"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Dependencies = %v; want %v", got, want)
	}
	if !g.Has("auth") || g.Has("billing") {
		t.Error("Has is wrong")
	}
}

func TestGraph_TreeRendersRepeatsAndMissingApps(t *testing.T) {
	tests := []struct {
		name string
		deps map[string][]string
		root string
		want string
	}{
		{"from the issue", map[string][]string{"storefront": {"pricing-api", "catalog-api"}, "catalog-api": {"pricing-api"}, "pricing-api": nil}, "storefront", `storefront
├── catalog-api
│   └── pricing-api
└── pricing-api (see above)
`},
		{"deeper, with a missing app", shop2, "web", `web
├── api
│   ├── db-proxy
│   │   └── vault (not registered)
│   └── queue
└── queue (see above)
`},
		{"cycle", map[string][]string{"a": {"b"}, "b": {"a"}}, "a", `a
└── b
    └── a (see above)
`},
		{"leaf", map[string][]string{"a": nil}, "a", "a\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree, err := NewGraphFromDeps(tt.deps).Tree(tt.root)
			if err != nil {
				t.Fatalf("Tree: %v", err)
			}
			var b strings.Builder
			if err := RenderTree(&b, tree); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}

var shop2 = map[string][]string{
	"web":      {"queue", "api"},
	"api":      {"db-proxy", "queue"},
	"db-proxy": {"vault"},
	"queue":    nil,
}

func TestGraph_TreeStructure(t *testing.T) {
	tree, err := NewGraphFromDeps(shop2).Tree("web")
	if err != nil {
		t.Fatal(err)
	}
	want := &spacepods.TreeNode{Name: "web", Children: []*spacepods.TreeNode{
		{Name: "api", Children: []*spacepods.TreeNode{
			{Name: "db-proxy", Children: []*spacepods.TreeNode{{Name: "vault", Missing: true}}},
			{Name: "queue"},
		}},
		{Name: "queue", Repeat: true},
	}}
	if !reflect.DeepEqual(tree, want) {
		t.Errorf("tree differs")
	}
	if _, err := NewGraphFromDeps(shop2).Tree("vault"); spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		t.Errorf("Tree(vault) = %v; want %s", err, spacepods.ENOTFOUND)
	}
}

// bigCatalog returns n apps in layers of 100, each depending on up to 5 apps
// of lower layers, like a large company's service catalog.
func bigCatalog(n int) []spacepods.App {
	apps := make([]spacepods.App, n)
	for i := range apps {
		apps[i].Name = fmt.Sprintf("app-%05d", i)
		if i < 100 {
			continue
		}
		for k := 1; k <= 5; k++ {
			j := (i*7919 + k*104729) % (i - i%100)
			apps[i].Dependencies = append(apps[i].Dependencies, apps[j].Name)
		}
	}
	return apps
}

func TestGraph_ClosureOfLargeCatalogIsOrdered(t *testing.T) {
	apps := bigCatalog(10000)
	g := NewGraph(apps)
	order, err := g.Closure([]string{"app-09999", "app-05000"})
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, n := range order {
		pos[n] = i
	}
	for _, n := range order {
		for _, d := range g.Dependencies(n) {
			if pos[d] >= pos[n] {
				t.Fatalf("%s starts before its dependency %s", n, d)
			}
		}
	}
}

func BenchmarkGraph_NewGraph10000(b *testing.B) {
	apps := bigCatalog(10000)
	for b.Loop() {
		NewGraph(apps)
	}
}

// BenchmarkGraph_Closure1000 computes closures of about 1,000 apps in a
// catalog of 10,000.
func BenchmarkGraph_Closure1000(b *testing.B) {
	g := NewGraph(bigCatalog(10000))
	var roots []string
	for i := 9999; i >= 0; i -= 3 {
		roots = append(roots, fmt.Sprintf("app-%05d", i))
		if n, _ := g.Closure(roots); len(n) >= 1000 {
			break
		}
	}
	n, _ := g.Closure(roots)
	b.ReportMetric(float64(len(n)), "apps/closure")
	for b.Loop() {
		if _, err := g.Closure(roots); err != nil {
			b.Fatal(err)
		}
	}
}
