package docker

import (
	"strings"
	"testing"
)

// TestPullProgress_FewLinesPerLayerAndQuarter: the Engine's chatty pull
// stream becomes a line per layer done and per 25% of the bytes.
func TestPullProgress_FewLinesPerLayerAndQuarter(t *testing.T) {
	var lines []string
	p := newPullProgress("r:5000/web@sha256:x", func(l string) { lines = append(lines, l) })
	msg := func(status, id string, cur, total int64) pullMessage {
		m := pullMessage{Status: status, ID: id}
		m.ProgressDetail.Current, m.ProgressDetail.Total = cur, total
		return m
	}
	p.add(msg("Pulling from web", "latest", 0, 0))
	p.add(msg("Pulling fs layer", "aaa", 0, 0))
	p.add(msg("Pulling fs layer", "bbb", 0, 0))
	p.add(msg("Already exists", "bbb", 0, 0))
	for cur := int64(0); cur <= 1000; cur += 10 { // 101 progress messages
		p.add(msg("Downloading", "aaa", cur, 1000))
	}
	p.add(msg("Download complete", "aaa", 0, 0))
	p.add(msg("Extracting", "aaa", 500, 1000))
	p.add(msg("Pull complete", "aaa", 0, 0))
	p.add(msg("Pull complete", "aaa", 0, 0)) // repeated: no second line
	p.done()
	want := []string{
		"pulling r:5000/web@sha256:x: layer bbb already here (1 of 2)",
		"pulling r:5000/web@sha256:x: 25% of 1000 B downloaded",
		"pulling r:5000/web@sha256:x: 50% of 1000 B downloaded",
		"pulling r:5000/web@sha256:x: 75% of 1000 B downloaded",
		"pulling r:5000/web@sha256:x: layer aaa pulled (2 of 2)",
		"pulled r:5000/web@sha256:x (2 layers)",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}
