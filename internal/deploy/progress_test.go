package deploy

import (
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func TestTaskOutput_KeepsTheLastLineAndCountsLines(t *testing.T) {
	var o taskOutput
	for _, chunk := range []string{"applying 0001", "_users\napplying 0002_orders\n", "\n", "applying 00", "03_items"} {
		o.Write([]byte(chunk))
	}
	if last, n := o.state(); last != "applying 0002_orders" || n != 3 {
		t.Errorf("state = %q, %d; want the last complete line and 3 lines", last, n)
	}
	o.Write([]byte("\n"))
	if last, n := o.state(); last != "applying 0003_items" || n != 4 {
		t.Errorf("state = %q, %d; want the line completed last", last, n)
	}
}

func TestProgressLine_SaysElapsedTimeAndOutput(t *testing.T) {
	tests := []struct {
		name    string
		elapsed time.Duration
		last    string
		fresh   int
		want    string
	}{
		{"nothing printed", 5 * time.Second, "", 0, "migrate running 0:05 — no output yet"},
		{"silent since", 42 * time.Second, "applying 0042", 0, "migrate running 0:42 — no new output; last line: applying 0042"},
		{"one line", 61 * time.Second, "applying 0043", 1, "migrate running 1:01 — 1 new line: applying 0043"},
		{"lines", 10*time.Minute + 400*time.Millisecond, "done", 7, "migrate running 10:00 — 7 new lines, last: done"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg, output := progressLine("migrate", tc.elapsed, tc.last, tc.fresh)
			if got := (spacepods.Event{Message: msg, Output: output}).Line(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if tc.last != "" && (strings.Contains(msg, tc.last) || output != tc.last) {
				t.Errorf("the output line %q must be apart from the message %q (viewers get the message only), got output %q", tc.last, msg, output)
			}
		})
	}
	long := strings.Repeat("é", 300)
	if _, got := progressLine("migrate", time.Second, long, 1); !strings.HasSuffix(got, "…") || len(got) > 210 {
		t.Errorf("a long line is not cut: %d bytes", len(got))
	}
}

func TestCrashLoop_CountsExitsOfReplicasNeverSeenHealthy(t *testing.T) {
	r := &run{e: &Engine{}}
	tests := []struct {
		name string
		rep  runtime.Replica
		seen bool
		want bool
	}{
		{"first crash", runtime.Replica{ID: "a", Crashes: 1, Restarts: 0}, false, false},
		{"second crash, never healthy", runtime.Replica{ID: "a", Crashes: 2, Restarts: 1}, false, true},
		{"second crash after being healthy", runtime.Replica{ID: "a", Crashes: 2, Restarts: 2}, true, false},
		{"restarted 5 times, healthy between", runtime.Replica{ID: "a", Crashes: 5, Restarts: 5}, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r.healthy = nil
			if tc.seen {
				r.sawHealthy(tc.rep.ID)
			}
			if got := r.crashLoop(tc.rep) != ""; got != tc.want {
				t.Errorf("crashLoop(%+v) = %q, want looping %v", tc.rep, r.crashLoop(tc.rep), tc.want)
			}
		})
	}
}
