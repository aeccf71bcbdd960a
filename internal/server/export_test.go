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
