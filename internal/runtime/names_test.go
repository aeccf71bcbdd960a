package runtime

import (
	"strings"
	"testing"
)

func TestObjectName_PartsThatReadAlikeGetDifferentNames(t *testing.T) {
	tests := []struct {
		name string
		a, b []string
	}{
		{"environment and service", []string{"spacepods", "a-b", "c-r1", "1"}, []string{"spacepods", "a", "b-c-r1", "1"}},
		{"service and replica", []string{"spacepods", "a", "b-1", "2"}, []string{"spacepods", "a", "b", "1-2"}},
		{"app and worker", []string{"a-w", "x", "r1"}, []string{"a", "w-x", "r1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			na, nb := ObjectName(tc.a...), ObjectName(tc.b...)
			if na == nb {
				t.Fatalf("ObjectName(%q) = ObjectName(%q) = %s", tc.a, tc.b, na)
			}
			if strings.Join(tc.a, "-") != strings.Join(tc.b, "-") {
				t.Fatalf("bad case: %q and %q do not read alike", tc.a, tc.b)
			}
		})
	}
}

func TestObjectName_IsAStableDNSLabel(t *testing.T) {
	long := strings.Repeat("x", 40)
	for _, parts := range [][]string{
		{"spacepods", "demo", "catalog-api-r3", "1"},
		{"spacepods", long, long + "-r1234567", "99"},
		{"spacepods", strings.Repeat("a", 51) + "-b", "c"}, // a cut that ends in a dash
	} {
		n := ObjectName(parts...)
		if err := ValidateName("object", n); err != nil {
			t.Errorf("ObjectName(%q) = %q: %v", parts, n, err)
		}
		if again := ObjectName(parts...); again != n {
			t.Errorf("ObjectName(%q) = %q, then %q", parts, n, again)
		}
		if !strings.HasPrefix(n, "spacepods-") {
			t.Errorf("ObjectName(%q) = %q lost its readable head", parts, n)
		}
	}
	if got := ObjectName("spacepods", "demo", "web-r1", "2"); !strings.HasPrefix(got, "spacepods-demo-web-r1-2-") || len(got) != len("spacepods-demo-web-r1-2-")+8 {
		t.Errorf("ObjectName = %q, want spacepods-demo-web-r1-2-<8 hex digits>", got)
	}
}

func TestServiceName_NoTwoProcessesShareAName(t *testing.T) {
	type proc struct {
		app     string
		release int
		worker  string
	}
	procs := []proc{
		{"a-w", 1, ""}, {"a", 1, "w"}, // web of app a-w, worker w of app a
		{"a-w-x", 1, ""}, {"a-w", 1, "x"}, {"a", 1, "w-x"},
		{"a", 12, ""}, {"a-r1", 2, ""}, {"a", 1, "r2"}, {"a-r1", 2, "x"}, {"a", 1, "r2-x"},
		{"catalog-api", 3, ""}, {"catalog-api", 3, "jobs"}, {"catalog-api", 4, "jobs"},
		{strings.Repeat("a", 40), 1234567, strings.Repeat("w", 40)},
	}
	seen := map[string]proc{}
	for _, p := range procs {
		n := ServiceName(p.app, p.release, p.worker)
		if q, dup := seen[n]; dup {
			t.Errorf("%+v and %+v are both named %s", p, q, n)
		}
		seen[n] = p
		if err := ValidateName("service", n); err != nil {
			t.Errorf("ServiceName%+v = %q: %v", p, n, err)
		}
	}
	if got := ServiceName("catalog-api", 3, ""); got != "catalog-api-r3" {
		t.Errorf("web service name = %q, want catalog-api-r3", got)
	}
	if got := ServiceName("catalog-api", 3, "jobs"); !strings.HasPrefix(got, "catalog-api-jobs-r3-") {
		t.Errorf("worker service name = %q, want catalog-api-jobs-r3-<hash>", got)
	}
}
