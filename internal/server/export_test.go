package server

// RouteInfo is what tests need of a route.
type RouteInfo struct{ Method, Path, Role string }

// Routes exposes the route table to the route × role test.
func Routes(s *Server) []RouteInfo {
	var out []RouteInfo
	for _, r := range s.routes() {
		out = append(out, RouteInfo{r.Method, r.Path, r.Role})
	}
	return out
}

// RouteDoc is a route's line in docs/api.md.
type RouteDoc struct{ Method, Path, Role, Summary string }

// RouteDocs lists routes for docs/api.md.
func RouteDocs(s *Server) []RouteDoc {
	var out []RouteDoc
	for _, r := range s.routes() {
		out = append(out, RouteDoc{r.Method, r.Path, r.Role, r.Summary})
	}
	return out
}
