package server_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/server"
)

const apiDoc = "../../docs/api.md"

// TestDocs_APIListsEveryRoute keeps docs/api.md true. With
// SPACEPODS_UPDATE_DOCS=1 it rewrites the route table from the code.
func TestDocs_APIListsEveryRoute(t *testing.T) {
	raw, err := os.ReadFile(apiDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	if os.Getenv("SPACEPODS_UPDATE_DOCS") == "1" {
		const marker = "| `GET /api/v1/openapi.json` | public | this API as OpenAPI 3 |\n"
		i := strings.Index(doc, marker)
		if i < 0 {
			t.Fatal("route table marker not found")
		}
		var b strings.Builder
		b.WriteString(doc[:i+len(marker)])
		for _, rt := range server.RouteDocs(&server.Server{}) {
			fmt.Fprintf(&b, "| `%s %s` | %s | %s |\n", rt.Method, rt.Path, rt.Role, rt.Summary)
		}
		doc = b.String()
		if err := os.WriteFile(apiDoc, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, rt := range server.Routes(&server.Server{}) {
		if !strings.Contains(doc, "`"+rt.Method+" "+rt.Path+"`") {
			t.Errorf("docs/api.md does not list %s %s (SPACEPODS_UPDATE_DOCS=1 go test -run Docs ./internal/server rewrites it)", rt.Method, rt.Path)
		}
	}
}
