package ui

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func app(name string, deps ...string) spacepods.App {
	return spacepods.App{Name: name, Kind: spacepods.KindWeb, Dependencies: deps}
}

func TestDependencyGraph_RowsByDepthArrowsDown(t *testing.T) {
	// storefront → catalog-api → pricing-api, and storefront → pricing-api
	// directly: pricing-api must sit below catalog-api (longest path), not
	// beside it.
	g := catalog.NewGraph([]spacepods.App{
		app("pricing-api"), app("catalog-api", "pricing-api"), app("storefront", "catalog-api", "pricing-api"), app("mailer", "catalog-api"),
	})
	dg := layoutGraph(g, []string{"storefront"}, map[string]string{"storefront": "web"})
	levels := map[string]int{}
	for _, n := range dg.Nodes {
		levels[n.Name] = n.Level
	}
	want := map[string]int{"storefront": 0, "catalog-api": 1, "pricing-api": 2}
	if len(levels) != len(want) {
		t.Fatalf("nodes %v, want %v (mailer is not a dependency)", levels, want)
	}
	for name, lv := range want {
		if levels[name] != lv {
			t.Errorf("%s at level %d, want %d", name, levels[name], lv)
		}
	}
	if len(dg.Edges) != 3 {
		t.Fatalf("edges %v, want 3", dg.Edges)
	}
	for _, e := range dg.Edges {
		from, to := dg.byName[e.From], dg.byName[e.To]
		if to.Y <= from.Y {
			t.Errorf("arrow %s → %s points up", e.From, e.To)
		}
	}
	for _, n := range dg.Nodes {
		if n.X < 0 || n.X+n.W > dg.Width || n.Y+graphBoxH > dg.Height {
			t.Errorf("%s lies outside the picture", n.Name)
		}
	}
	svg := string(dg.SVG("deps"))
	if strings.Count(svg, `class="edge"`) != 3 || strings.Count(svg, "<rect") != 3 || !strings.Contains(svg, `href="/apps/pricing-api"`) {
		t.Fatalf("svg:\n%s", svg)
	}
}

func TestDependencyGraph_SeveralRootsAndMissingApps(t *testing.T) {
	g := catalog.NewGraphFromDeps(map[string][]string{"a": {"ghost", "c"}, "b": {"c"}, "c": nil})
	dg := layoutGraph(g, []string{"a", "b"}, nil)
	byName := dg.byName
	if !byName["a"].Root || !byName["b"].Root || byName["c"].Root {
		t.Fatal("roots are a and b")
	}
	if !byName["ghost"].Missing {
		t.Fatal("ghost is not registered and must be drawn as missing")
	}
	svg := string(dg.SVG(`<a & "b">`))
	if !strings.Contains(svg, "not registered") || strings.Contains(svg, `href="/apps/ghost"`) {
		t.Fatal("a missing app is labelled, never linked")
	}
	if strings.Contains(svg, `<a & "b">`) || !strings.Contains(svg, "&lt;a &amp; &#34;b&#34;&gt;") {
		t.Fatal("the title is not escaped")
	}
	// Rows do not overlap.
	for _, m := range dg.Nodes {
		for _, n := range dg.Nodes {
			if m != n && m.Level == n.Level && m.X < n.X+n.W && n.X < m.X+m.W {
				t.Errorf("%s and %s overlap", m.Name, n.Name)
			}
		}
	}
}

func TestManifestYAML_RoundTripsTheExamples(t *testing.T) {
	for _, name := range []string{"catalog-api", "mailer", "pricing-api", "storefront"} {
		data, err := os.ReadFile("../../examples/" + name + "/spacepods.yaml")
		if err != nil {
			t.Fatal(err)
		}
		want, err := catalog.ParseManifest(data)
		if err != nil {
			t.Fatal(err)
		}
		out := manifestYAML(*want)
		got, err := catalog.ParseManifest([]byte(out))
		if err != nil {
			t.Fatalf("%s: the rendered manifest does not parse: %v\n%s", name, err, out)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the rendered manifest parses to another app:\n%s\ngot  %+v\nwant %+v", name, out, got, want)
		}
	}
	if got := scalar("a, b"); got != `"a, b"` {
		t.Errorf("a comma in a flow list must be quoted, got %s", got)
	}
}
