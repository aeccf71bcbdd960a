package router

import (
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds a cpu-ns/op metric: less disturbed by other load on the
// machine than wall time.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkRouter_Proxy measures one keep-alive GET through the router to a
// backend, client and backend included (compare runs, not absolute numbers).
func BenchmarkRouter_Proxy(b *testing.B) {
	opts := testOptions(b)
	r, front := mustNewRouter(b, opts)
	be := newBackend(b, "a")
	mustSetGroup(b, r, "alice", "web", GroupSpec{Targets: []TargetSpec{{be.addr, 1}}})
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 256}
	b.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, processCPU())
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", front.URL+"/", nil)
			req.Host = host
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkDirect is the same load without the router, as a baseline.
func BenchmarkDirect(b *testing.B) {
	be := newBackend(b, "a")
	tr := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 256}
	b.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, processCPU())
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(be.URL + "/")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
