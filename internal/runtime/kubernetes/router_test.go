package kubernetes_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spacepods/spacepods/internal/deploy"
	"github.com/spacepods/spacepods/internal/router"
	"github.com/spacepods/spacepods/internal/router/routertest"
	"github.com/spacepods/spacepods/internal/runtime/kubernetes"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// nodePorts plays a node's kube-proxy for one namespace of the simulated
// cluster, where no node does: for each NodePort Service it listens on
// 127.0.0.1:<node port> and answers as that Service would, from what the
// API says: 503 while the Service has no ready endpoint (its
// EndpointSlices, kept by the real endpoint-slice controller from the
// pods' readiness), else 200 with the Service's name. It forwards nothing:
// on kwok no pod runs.
type nodePorts struct {
	mu      sync.Mutex
	ready   map[string]int    // Service → ready endpoints
	byPort  map[string]string // 127.0.0.1:<node port> → Service
	servers []*http.Server
}

func serveNodePorts(t *testing.T, ctx context.Context, c *cluster, ns string) *nodePorts {
	t.Helper()
	np := &nodePorts{ready: map[string]int{}, byPort: map[string]string{}}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			np.sync(ctx, t, c, ns)
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		np.mu.Lock()
		defer np.mu.Unlock()
		for _, s := range np.servers {
			s.Close()
		}
	})
	return np
}

func (np *nodePorts) sync(ctx context.Context, t *testing.T, c *cluster, ns string) {
	svcs, err := c.client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	slices, err := c.client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	ready := map[string]int{}
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
				ready[s.Labels[discoveryv1.LabelServiceName]]++
			}
		}
	}
	np.mu.Lock()
	defer np.mu.Unlock()
	np.ready = ready
	for _, s := range svcs.Items {
		if s.Spec.Type != corev1.ServiceTypeNodePort || len(s.Spec.Ports) == 0 {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(s.Spec.Ports[0].NodePort)))
		if _, ok := np.byPort[addr]; ok {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("node port of Service %s: %v", s.Name, err)
			continue
		}
		name := s.Name
		np.byPort[addr] = name
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			np.mu.Lock()
			n := np.ready[name]
			np.mu.Unlock()
			if n == 0 {
				http.Error(w, "no ready endpoint for "+name, http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, name)
		})}
		np.servers = append(np.servers, srv)
		go srv.Serve(ln)
	}
}

// service returns the Service behind a node port address ("" if none).
func (np *nodePorts) service(addr string) string {
	np.mu.Lock()
	defer np.mu.Unlock()
	return np.byPort[addr]
}

// load sends requests to one host through the router until stopped, and
// counts the answers by body, and the failures.
type load struct {
	mu     sync.Mutex
	bodies map[string]int
	fails  []string
	stop   chan struct{}
	done   chan struct{}
}

func startLoad(routerAddr, host string) *load {
	l := &load{bodies: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second}
	go func() {
		defer close(l.done)
		for {
			select {
			case <-l.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			req, _ := http.NewRequest(http.MethodGet, "http://"+routerAddr+"/", nil)
			req.Host = host
			resp, err := client.Do(req)
			l.mu.Lock()
			if err != nil {
				l.fails = append(l.fails, err.Error())
			} else {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					l.fails = append(l.fails, fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b))))
				} else {
					l.bodies[string(b)]++
				}
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// end stops the load and returns its counts.
func (l *load) end() (map[string]int, []string) {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bodies, l.fails
}

// watchGroup records the distinct target sets ("<Service>:<weight>", sorted)
// the router serves an app with, polling its stats, until ctx ends.
func watchGroup(ctx context.Context, c *router.Client, np *nodePorts, env, app string) func() []string {
	var mu sync.Mutex
	var seen []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if st, err := c.Stats(ctx, env, app); err == nil {
				var ts []string
				known := true
				for _, tg := range st.Targets {
					if tg.State != router.StateDraining && tg.Weight > 0 {
						svc := np.service(tg.Addr)
						known = known && svc != "" // else: a node port not listened on yet
						ts = append(ts, fmt.Sprintf("%s:%d", svc, tg.Weight))
					}
				}
				if !known {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				sort.Strings(ts)
				s := strings.Join(ts, " ")
				mu.Lock()
				seen = appendChanged(seen, s)
				mu.Unlock()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return func() []string {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// isSubsequence reports whether every element of got appears in want, in order.
func isSubsequence(got, want []string) bool {
	i := 0
	for _, g := range got {
		for i < len(want) && want[i] != g {
			i++
		}
		if i == len(want) {
			return false
		}
		i++
	}
	return true
}

// TestDeploy_EdgeRouterInFrontOfTheClusterTargetsServices runs the deploy
// engine with the built-in edge router in front of the cluster
// (Config.NodeAddress: it reaches each release's Service by node port). The
// router's targets are the releases' Services, weighted by their replica
// counts, so the staged rollout of build 2 moves traffic 4:0 → 4:1 (bake) →
// 3:1 → 3:2 (bake) → 2:2 → 2:4 (bake) → 0:4 under constant load with no
// failed request; build 3, never Ready, fails its first stage (its Service
// never passes the router's health check) and is rolled back, again without
// a failed request.
func TestDeploy_EdgeRouterInFrontOfTheClusterTargetsServices(t *testing.T) {
	c := requireCluster(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	rr, err := routertest.Start(router.Options{HealthInterval: 100 * time.Millisecond, DrainTimeout: 5 * time.Second, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rr.Close)
	d := newDriver(t, kubernetes.Config{NodeAddress: "127.0.0.1"})
	_, port, _ := net.SplitHostPort(rr.Addr)
	r := newDeployRig(t, ctx, d, &deploy.Engine{Router: rr.Client, Domain: rr.Router.Domain(), RouterPort: port})
	if err := rr.Client.SetEnvironment(ctx, r.env, ""); err != nil {
		t.Fatal(err)
	}
	np := serveNodePorts(t, ctx, c, d.Namespace(r.env))
	host := rr.Router.Host(r.env, "web")

	first := r.deploy(1)
	if first.Status != spacepods.DeployCompleted {
		t.Fatalf("deploy of build 1: %s (%s)\n%s", first.Status, first.Error, first.Output)
	}
	r1 := deploy.ServiceName("web", first.Release, "")
	st, err := rr.Client.Stats(ctx, r.env, "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Targets) != 1 || np.service(st.Targets[0].Addr) != r1 || st.Targets[0].Weight != 4 {
		t.Fatalf("router targets after build 1 = %+v, want one: the node port of Service %s, weight 4", st.Targets, r1)
	}

	gctx, gstop := context.WithCancel(ctx)
	groups := watchGroup(gctx, rr.Client, np, r.env, "web")
	l := startLoad(rr.Addr, host)
	second := r.deploy(2)
	bodies, fails := l.end()
	gstop()
	if second.Status != spacepods.DeployCompleted {
		t.Fatalf("deploy of build 2: %s (%s)\n%s", second.Status, second.Error, second.Output)
	}
	r2 := deploy.ServiceName("web", second.Release, "")
	t.Logf("build 2: answers %v, failures %d", bodies, len(fails))
	if len(fails) > 0 {
		t.Errorf("%d requests failed during the rollout of build 2, e.g. %q", len(fails), fails[0])
	}
	if bodies[r1] == 0 || bodies[r2] == 0 {
		t.Errorf("answers during the rollout = %v, want both %s and %s", bodies, r1, r2)
	}
	want := []string{r1 + ":4", r1 + ":4 " + r2 + ":1", r1 + ":3 " + r2 + ":1", r1 + ":3 " + r2 + ":2", r1 + ":2 " + r2 + ":2", r1 + ":2 " + r2 + ":4", r2 + ":4"}
	got := groups()
	t.Logf("router target sets during the rollout: %q", got)
	if !isSubsequence(got, want) {
		t.Errorf("router target sets = %q, want them in the order of %q", got, want)
	}
	for _, admitted := range []string{want[1], want[3], want[5], want[6]} {
		if !slices.Contains(got, admitted) {
			t.Errorf("router target sets = %q: missing %q (a baked stage or the end)", got, admitted)
		}
	}

	l = startLoad(rr.Addr, host)
	third := r.deploy(3)
	bodies, fails = l.end()
	t.Logf("build 3: answers %v, failures %d", bodies, len(fails))
	r.wantRolledBack(third, second.Release)
	if len(fails) > 0 {
		t.Errorf("%d requests failed during the failed deploy of build 3, e.g. %q", len(fails), fails[0])
	}
	if len(bodies) != 1 || bodies[r2] == 0 {
		t.Errorf("answers during the failed deploy = %v, want only %s", bodies, r2)
	}
	st, err = rr.Client.Stats(ctx, r.env, "web")
	if err != nil {
		t.Fatal(err)
	}
	var live []string
	for _, tg := range st.Targets {
		if tg.State != router.StateDraining {
			live = append(live, fmt.Sprintf("%s:%d", np.service(tg.Addr), tg.Weight))
		}
	}
	if !slices.Equal(live, []string{r2 + ":4"}) {
		t.Errorf("router targets after the rollback = %v, want [%s:4]", live, r2)
	}
}
