package router

import (
	"net/http"
	"net/netip"
)

// InternalHandler serves the apps' calls to their dependencies, on a
// listener that the containers reach (the Docker bridge's gateway). A
// request is routed like any other (health-gated, weighted, drained,
// counted), but only when its source address lies in the subnet of the
// environment its host names (SetEnvironment): no environment reaches
// another's apps, and nothing outside the environments reaches any.
func (r *Router) InternalHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		env, _, ok := parseHost(req.Host, r.opts.Domain)
		src, err := netip.ParseAddrPort(req.RemoteAddr)
		if !ok || err != nil {
			http.Error(w, "spacepods internal route: unknown host "+req.Host, http.StatusNotFound)
			return
		}
		r.mu.RLock()
		subnet, known := r.nets[env]
		r.mu.RUnlock()
		if !known || !subnet.Contains(src.Addr().Unmap()) {
			http.Error(w, "spacepods internal route: "+src.Addr().String()+" is not in environment "+env, http.StatusForbidden)
			return
		}
		r.ServeHTTP(w, req)
	})
}

// parseSubnet parses an environment's subnet ("" = none).
func parseSubnet(s string) (netip.Prefix, bool, error) {
	if s == "" {
		return netip.Prefix{}, false, nil
	}
	p, err := netip.ParsePrefix(s)
	return p.Masked(), err == nil, err
}
