package router

import (
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
)

// ProcessGCPercent is the garbage collector's target TuneProcess sets. The
// router's live heap is small (a route table, pooled buffers, per-connection
// state: a few MB), so with Go's default (100) it collects many times a
// second under load; at 400 the heap may grow to five times the live heap,
// still tens of MB, and the collector's share of the router's CPU drops to a
// fraction (docs/benchmarks.md, edge router).
const ProcessGCPercent = 400

// TuneProcess sets the runtime up for a process that only runs the router
// (`spacepods router`): the GC target above, unless GOGC is set in the
// environment, which wins. GOMAXPROCS is left at Go's default, the CPUs the
// process may use (its cgroup's quota included), like nginx's
// `worker_processes auto`. Not for processes that run the router next to
// other work: it changes the whole process.
func TuneProcess() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(ProcessGCPercent)
	}
}

// StartCPUProfile writes a CPU profile of this process to path until the
// returned stop is called: `spacepods router --cpuprofile FILE` (off unless
// asked for), for finding where the router's time goes under load.
func StartCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close() // best-effort cleanup; nothing useful to do on failure
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close() // best-effort cleanup; nothing useful to do on failure
	}, nil
}
