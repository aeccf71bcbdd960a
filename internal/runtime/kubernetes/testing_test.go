package kubernetes_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/spacepods/spacepods/internal/runtime/drivertest"
	"github.com/spacepods/spacepods/internal/runtime/kubernetes"
	"github.com/spacepods/spacepods/internal/testenv"
)

// The identity the conformance suite runs as: bound to the ClusterRole of
// docs/kubernetes-rbac.yaml, nothing more.
const (
	testServiceAccount = "spacepods-driver-test"
	testSANamespace    = "default"
	rbacFile           = "../../../docs/kubernetes-rbac.yaml"
)

// cluster is what the tests know of the test cluster.
type cluster struct {
	kubeconfig string
	admin      *rest.Config // system:masters
	limited    *rest.Config // the service account bound to the documented ClusterRole spacepods-driver
	// limitedAll is bound to every documented ClusterRole (the optional
	// ones too).
	limitedAll *rest.Config
	client     k8s.Interface
}

var testCluster struct {
	once sync.Once
	c    *cluster
	err  error
}

// requireCluster returns the test cluster that scripts/k8s-cluster.sh
// started (SPACEPODS_TEST_KUBECONFIG), set up once per test process. It
// skips outside CI and fails in CI when there is none.
func requireCluster(t testing.TB) *cluster {
	t.Helper()
	path := testenv.Kubeconfig(t)
	testCluster.once.Do(func() { testCluster.c, testCluster.err = setUpCluster(path) })
	if testCluster.err != nil {
		if testenv.InCI() {
			t.Fatalf("test cluster at %s: %v", path, testCluster.err)
		}
		testenv.Missing(t, "a Kubernetes test cluster that answers", testCluster.err.Error())
	}
	return testCluster.c
}

func setUpCluster(path string) (*cluster, error) {
	admin, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, err
	}
	cs, err := k8s.NewForConfig(admin)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cs.Discovery().ServerVersion(); err != nil {
		return nil, err
	}
	roles, err := documentedClusterRoles()
	if err != nil {
		return nil, err
	}
	limited, err := boundIdentity(ctx, cs, admin, testServiceAccount, roles["spacepods-driver"])
	if err != nil {
		return nil, err
	}
	limitedAll, err := boundIdentity(ctx, cs, admin, testServiceAccount+"-all",
		roles["spacepods-driver"], roles["spacepods-image-pull"], roles["spacepods-isolation"])
	if err != nil {
		return nil, err
	}
	return &cluster{kubeconfig: path, admin: admin, limited: limited, limitedAll: limitedAll, client: cs}, nil
}

// boundIdentity makes a service account bound to copies of roles (named
// after it) and returns a REST config that acts as it.
func boundIdentity(ctx context.Context, cs k8s.Interface, admin *rest.Config, name string, roles ...*rbacv1.ClusterRole) (*rest.Config, error) {
	for _, r := range roles {
		if r == nil {
			return nil, errors.New(rbacFile + " lacks a ClusterRole the tests bind")
		}
		role := r.DeepCopy()
		role.Name = name + "-" + r.Name
		if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
			have, err := cs.RbacV1().ClusterRoles().Get(ctx, role.Name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			have.Rules = role.Rules
			if _, err := cs.RbacV1().ClusterRoles().Update(ctx, have, metav1.UpdateOptions{}); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, err
		}
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: role.Name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: testSANamespace}},
		}
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, err
		}
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testSANamespace}}
	if _, err := cs.CoreV1().ServiceAccounts(testSANamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	tok, err := cs.CoreV1().ServiceAccounts(testSANamespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	rc := rest.AnonymousClientConfig(admin)
	rc.BearerToken = tok.Status.Token
	return rc, nil
}

// documentedClusterRoles reads the ClusterRoles of docs/kubernetes-rbac.yaml,
// by name.
func documentedClusterRoles() (map[string]*rbacv1.ClusterRole, error) {
	b, err := os.ReadFile(rbacFile)
	if err != nil {
		return nil, err
	}
	out := map[string]*rbacv1.ClusterRole{}
	r := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, err
		}
		if tm.Kind != "ClusterRole" {
			continue
		}
		var role rbacv1.ClusterRole
		if err := yaml.Unmarshal(doc, &role); err != nil {
			return nil, err
		}
		out[role.Name] = &role
	}
}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// newDriver returns a driver that acts as the documented ClusterRole's
// service account.
func newDriver(t testing.TB, cfg kubernetes.Config) *kubernetes.Driver {
	t.Helper()
	c := requireCluster(t)
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	if cfg.Secrets == nil {
		cfg.Secrets = drivertest.Secrets
	}
	rc := c.limited
	if cfg.ImagePullSecret != "" || cfg.Isolation {
		rc = c.limitedAll
	}
	d, err := kubernetes.NewForConfig(rc, cfg)
	if err != nil {
		t.Fatalf("kubernetes.NewForConfig: %v", err)
	}
	return d
}

// podLogFile is the log every simulated pod has (scripts/k8s-cluster.sh
// writes it next to the kubeconfig), in the CRI log format.
func podLogFile(c *cluster) string { return filepath.Join(filepath.Dir(c.kubeconfig), "pod.log") }

// uniqueEnv returns an environment name no other test uses.
func uniqueEnv(hint string) string {
	return "kt-" + hint + "-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
}

// appendChanged appends v to s unless it equals s's last element: the
// distinct states something went through, in order.
func appendChanged[T comparable](s []T, v T) []T {
	if len(s) > 0 && s[len(s)-1] == v {
		return s
	}
	return append(s, v)
}
