// Package routertest runs the edge router in-process for tests: its proxy
// and its control API on free loopback ports, reached through the same
// client the control plane uses.
package routertest

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spacepods/spacepods/internal/router"
)

// Running is a router serving on loopback.
type Running struct {
	Router *router.Router
	Client *router.Client // its control API, with its token
	Addr   string         // the proxy's 127.0.0.1:port
	// Internal is the internal listener's address ("" if none).
	Internal string

	servers []*http.Server
}

// Start runs a router with opts. internal, when set, is the address of its
// internal listener (InternalHandler; port 0 picks one): Running.Internal.
func Start(opts router.Options, internal ...string) (*Running, error) {
	r, err := router.New(opts)
	if err != nil {
		return nil, err
	}
	proxyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = r.Close() // best-effort cleanup; nothing useful to do on failure
		return nil, err
	}
	controlLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = proxyLn.Close() // best-effort cleanup; nothing useful to do on failure
		_ = r.Close()       // best-effort cleanup; nothing useful to do on failure
		return nil, err
	}
	b := make([]byte, 16)
	rand.Read(b)
	token := hex.EncodeToString(b)
	info := router.Info{PID: os.Getpid(), Listen: proxyLn.Addr().String(), Control: controlLn.Addr().String(), Domain: r.Domain()}
	proxy := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	control := &http.Server{Handler: r.ControlHandler(token, info), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = proxy.Serve(proxyLn) }()     // returns when the listener is closed at shutdown
	go func() { _ = control.Serve(controlLn) }() // returns when the listener is closed at shutdown
	run := &Running{Router: r, Client: router.NewClient(info.Control, token), Addr: info.Listen, servers: []*http.Server{proxy, control}}
	if len(internal) > 0 && internal[0] != "" {
		ln, err := net.Listen("tcp", internal[0])
		if err != nil {
			run.Close()
			return nil, err
		}
		srv := &http.Server{Handler: r.InternalHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }() // returns when the listener is closed at shutdown
		run.servers = append(run.servers, srv)
		run.Internal = ln.Addr().String()
	}
	return run, nil
}

// Close stops serving and closes the router.
func (r *Running) Close() {
	for _, s := range r.servers {
		_ = s.Close() // best-effort cleanup; nothing useful to do on failure
	}
	_ = r.Router.Close() // best-effort cleanup; nothing useful to do on failure
}
