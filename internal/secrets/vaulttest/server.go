// Package vaulttest is an in-process HTTP server that follows HashiCorp
// Vault's documented HTTP contract for the KV v2 secrets engine and the
// AppRole login, for contract tests of Vault clients.
//
// It is NOT Vault. It keeps everything in memory and has no policies (a
// token is either known, with full access, or refused), leases, token TTLs,
// seal, audit, replication or plugins. A real Vault could not be built or
// installed here (see docs/secrets.md), so tests of the vault secret store
// run against this contract instead; where the two disagree, Vault wins.
//
// What it serves, under /v1/ (the X-Vault-Token header is required except
// for the login; X-Vault-Namespace selects a namespace, each one with its
// own data):
//
//	GET         <mount>/data/<path>[?version=N]  read; 404 when missing or the version is deleted/destroyed
//	POST, PUT   <mount>/data/<path>              write {"data": {...}, "options": {"cas": N}}; answers data.version
//	DELETE      <mount>/data/<path>              soft delete of the latest version
//	LIST, GET ?list=true <mount>/metadata/<dir>  keys, folders with a trailing '/'; 404 when empty
//	GET         <mount>/metadata/<path>          versions and their deletion times
//	DELETE      <mount>/metadata/<path>          remove the key and all its versions
//	POST, PUT   auth/approle/login               {"role_id", "secret_id"} → auth.client_token
package vaulttest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MaxVersions is how many versions of a key are kept, as Vault's default.
const MaxVersions = 10

// Server is the contract server. Its methods are safe for concurrent use.
type Server struct {
	// URL is the address to give a Vault client, e.g. http://127.0.0.1:port.
	URL string
	// RootToken is accepted from the start.
	RootToken string

	ts *httptest.Server

	mu       sync.Mutex
	now      func() time.Time
	tokens   map[string]bool
	approles map[string]string // role_id → secret_id
	mounts   map[string]bool
	data     map[string]map[string]*key // namespace → "<mount>/<path>" → key
	requests []Request
}

// Request is what the server saw of one request.
type Request struct {
	Method    string // LIST for GET ?list=true
	Path      string // without /v1/
	Namespace string // the X-Vault-Namespace header, slashes trimmed
	Token     string // the X-Vault-Token header
}

type key struct {
	created, updated time.Time
	current, oldest  int
	versions         map[int]*version
}

type version struct {
	data      map[string]any
	created   time.Time
	deleted   time.Time
	destroyed bool
}

// New starts a server with the KV v2 mount "secret" and a root token; it
// stops at the end of the test.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{
		RootToken: "root-" + randomHex(8),
		now:       func() time.Time { return time.Now().UTC() },
		tokens:    map[string]bool{},
		approles:  map[string]string{},
		mounts:    map[string]bool{"secret": true},
		data:      map[string]map[string]*key{},
	}
	s.tokens[s.RootToken] = true
	s.ts = httptest.NewServer(s)
	s.URL = s.ts.URL
	tb.Cleanup(s.ts.Close)
	return s
}

// Close stops the server (New also does at the end of the test).
func (s *Server) Close() { s.ts.Close() }

// AddMount enables a KV v2 engine at path (in every namespace).
func (s *Server) AddMount(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mounts[strings.Trim(path, "/")] = true
}

// AddToken makes token valid.
func (s *Server) AddToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = true
}

// RevokeToken makes token invalid, as when it expires.
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, token)
}

// AddAppRole lets auth/approle/login exchange roleID and secretID for a new
// token.
func (s *Server) AddAppRole(roleID, secretID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.approles[roleID] = secretID
}

// Requests returns what the server saw so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Latest returns the data of the latest live version of <mount>/<path> in
// namespace ("" for the root), bypassing HTTP.
func (s *Server) Latest(namespace, mount, path string) (data map[string]any, version int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.data[strings.Trim(namespace, "/")][strings.Trim(mount, "/")+"/"+strings.Trim(path, "/")]
	if k == nil {
		return nil, 0, false
	}
	v := k.versions[k.current]
	if v == nil || !v.deleted.IsZero() || v.destroyed {
		return nil, k.current, false
	}
	return v.data, k.current, true
}

// envelope is the body of every successful answer with content.
type envelope struct {
	RequestID     string   `json:"request_id"`
	LeaseID       string   `json:"lease_id"`
	Renewable     bool     `json:"renewable"`
	LeaseDuration int      `json:"lease_duration"`
	Data          any      `json:"data"`
	WrapInfo      any      `json:"wrap_info"`
	Warnings      []string `json:"warnings"`
	Auth          any      `json:"auth"`
	MountType     string   `json:"mount_type"`
}

// ServeHTTP routes one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		writeErrors(w, http.StatusNotFound)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	method := r.Method
	if method == http.MethodGet && r.URL.Query().Get("list") == "true" {
		method = "LIST"
	}
	ns := strings.Trim(r.Header.Get("X-Vault-Namespace"), "/")
	token := r.Header.Get("X-Vault-Token")
	if token == "" && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		token = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Method: method, Path: path, Namespace: ns, Token: token})

	if path == "auth/approle/login" {
		if method != http.MethodPost && method != http.MethodPut {
			writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
			return
		}
		s.login(w, r)
		return
	}
	if !s.tokens[token] {
		writeErrors(w, http.StatusForbidden, "permission denied")
		return
	}
	mount, rest, _ := strings.Cut(path, "/")
	kind, p, _ := strings.Cut(rest, "/")
	if !s.mounts[mount] || (kind != "data" && kind != "metadata") {
		writeErrors(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", path))
		return
	}
	p = strings.Trim(p, "/")
	keys := s.data[ns]
	if keys == nil {
		keys = map[string]*key{}
		s.data[ns] = keys
	}
	id := mount + "/" + p
	switch {
	case kind == "data" && method == http.MethodGet:
		s.read(w, r, keys[id])
	case kind == "data" && (method == http.MethodPost || method == http.MethodPut):
		s.write(w, r, keys, id, p)
	case kind == "data" && method == http.MethodDelete:
		if k := keys[id]; k != nil {
			if v := k.versions[k.current]; v != nil && v.deleted.IsZero() {
				v.deleted = s.now()
				k.updated = v.deleted
			}
		}
		w.WriteHeader(http.StatusNoContent)
	case kind == "metadata" && method == "LIST":
		s.list(w, keys, mount, p)
	case kind == "metadata" && method == http.MethodGet:
		s.readMetadata(w, keys[id])
	case kind == "metadata" && method == http.MethodDelete:
		delete(keys, id)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
	}
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var body struct {
		RoleID   string `json:"role_id"`
		SecretID string `json:"secret_id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeErrors(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	if body.RoleID == "" {
		writeErrors(w, http.StatusBadRequest, "missing role_id")
		return
	}
	want, ok := s.approles[body.RoleID]
	if !ok || want != body.SecretID {
		writeErrors(w, http.StatusBadRequest, "invalid role or secret ID")
		return
	}
	token := "hvs." + randomHex(12)
	s.tokens[token] = true
	writeJSON(w, http.StatusOK, envelope{
		RequestID: randomUUID(),
		Auth: map[string]any{
			"client_token":    token,
			"accessor":        randomHex(12),
			"policies":        []string{"default"},
			"token_policies":  []string{"default"},
			"metadata":        map[string]string{"role_name": "spacepods"},
			"lease_duration":  1200,
			"renewable":       true,
			"entity_id":       randomUUID(),
			"token_type":      "service",
			"orphan":          true,
			"mfa_requirement": nil,
			"num_uses":        0,
		},
	})
}

func (s *Server) read(w http.ResponseWriter, r *http.Request, k *key) {
	if k == nil {
		writeErrors(w, http.StatusNotFound)
		return
	}
	n := k.current
	if q := r.URL.Query().Get("version"); q != "" && q != "0" {
		var err error
		if n, err = strconv.Atoi(q); err != nil {
			writeErrors(w, http.StatusBadRequest, "invalid version")
			return
		}
	}
	v := k.versions[n]
	if v == nil {
		writeErrors(w, http.StatusNotFound)
		return
	}
	meta := versionMetadata(n, v)
	if !v.deleted.IsZero() || v.destroyed {
		// Vault answers 404 but still shows the version's metadata.
		writeJSON(w, http.StatusNotFound, envelope{RequestID: randomUUID(), Data: map[string]any{"data": nil, "metadata": meta}, MountType: "kv"})
		return
	}
	writeJSON(w, http.StatusOK, envelope{RequestID: randomUUID(), Data: map[string]any{"data": v.data, "metadata": meta}, MountType: "kv"})
}

func (s *Server) write(w http.ResponseWriter, r *http.Request, keys map[string]*key, id, p string) {
	if p == "" {
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	var body struct {
		Data    map[string]any `json:"data"`
		Options struct {
			CAS *int `json:"cas"`
		} `json:"options"`
	}
	raw, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	if err != nil {
		writeErrors(w, http.StatusBadRequest, "failed to parse JSON input: "+err.Error())
		return
	}
	if body.Data == nil {
		writeErrors(w, http.StatusBadRequest, "no data provided")
		return
	}
	k := keys[id]
	if cas := body.Options.CAS; cas != nil {
		cur := 0
		if k != nil {
			cur = k.current
		}
		if *cas != cur {
			writeErrors(w, http.StatusBadRequest, "check-and-set parameter did not match the current version")
			return
		}
	}
	now := s.now()
	if k == nil {
		k = &key{created: now, oldest: 1, versions: map[int]*version{}}
		keys[id] = k
	}
	k.current++
	k.updated = now
	v := &version{data: body.Data, created: now}
	k.versions[k.current] = v
	for len(k.versions) > MaxVersions {
		delete(k.versions, k.oldest)
		k.oldest++
	}
	writeJSON(w, http.StatusOK, envelope{RequestID: randomUUID(), Data: versionMetadata(k.current, v), MountType: "kv"})
}

func (s *Server) list(w http.ResponseWriter, keys map[string]*key, mount, dir string) {
	prefix := mount + "/"
	if dir != "" {
		prefix += dir + "/"
	}
	seen := map[string]bool{}
	for id := range keys {
		rest, ok := strings.CutPrefix(id, prefix)
		if !ok || rest == "" {
			continue
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i+1]
		}
		seen[rest] = true
	}
	if len(seen) == 0 {
		writeErrors(w, http.StatusNotFound)
		return
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	writeJSON(w, http.StatusOK, envelope{RequestID: randomUUID(), Data: map[string]any{"keys": out}, MountType: "kv"})
}

func (s *Server) readMetadata(w http.ResponseWriter, k *key) {
	if k == nil {
		writeErrors(w, http.StatusNotFound)
		return
	}
	versions := map[string]any{}
	for n, v := range k.versions {
		m := versionMetadata(n, v)
		delete(m, "version")
		delete(m, "custom_metadata")
		versions[strconv.Itoa(n)] = m
	}
	writeJSON(w, http.StatusOK, envelope{RequestID: randomUUID(), MountType: "kv", Data: map[string]any{
		"cas_required":         false,
		"created_time":         stamp(k.created),
		"current_version":      k.current,
		"custom_metadata":      nil,
		"delete_version_after": "0s",
		"max_versions":         0,
		"oldest_version":       k.oldest,
		"updated_time":         stamp(k.updated),
		"versions":             versions,
	}})
}

func versionMetadata(n int, v *version) map[string]any {
	return map[string]any{
		"created_time":    stamp(v.created),
		"custom_metadata": nil,
		"deletion_time":   stamp(v.deleted),
		"destroyed":       v.destroyed,
		"version":         n,
	}
}

// stamp formats a time as Vault does; the zero time is "".
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body) // the reader went away; nothing left to report to
}

// writeErrors answers Vault's error shape {"errors": [...]}; a plain 404
// has an empty list.
func writeErrors(w http.ResponseWriter, status int, msgs ...string) {
	if msgs == nil {
		msgs = []string{}
	}
	writeJSON(w, status, map[string]any{"errors": msgs})
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func randomUUID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
