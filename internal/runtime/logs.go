package runtime

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
)

// TaskLogTailBytes bounds TaskResult.LogTail on every driver.
const TaskLogTailBytes = 64 << 10

// Parallel runs fn(0..n-1) concurrently and returns their errors joined.
func Parallel(n int, fn func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// LogSource is one replica's log stream, for MergeLogs.
type LogSource struct {
	Prefix string // put before every line, e.g. "[2] "
	// Copy writes the replica's stdout and stderr until the stream ends.
	Copy  func(stdout, stderr io.Writer) error
	Close func() error
}

// MergeLogs returns one stream of every source's lines, whole lines only,
// each with its source's prefix. With follow the sources' lines interleave
// as they come; without, the sources come one after the other. Closing the
// stream calls cancel (which should end the sources).
func MergeLogs(cancel context.CancelFunc, sources []LogSource, follow bool) io.ReadCloser {
	pr, pw := io.Pipe()
	var mu sync.Mutex
	copyOne := func(i int) error {
		src := sources[i]
		defer func() { _ = src.Close() }() // best-effort cleanup; nothing useful to do on failure
		stdout := &lineWriter{prefix: src.Prefix, out: pw, mu: &mu}
		stderr := &lineWriter{prefix: src.Prefix, out: pw, mu: &mu}
		err := src.Copy(stdout, stderr)
		stdout.flush()
		stderr.flush()
		return err
	}
	go func() {
		defer cancel()
		if follow {
			_ = Parallel(len(sources), copyOne) // copy errors end one source; the stream goes on with the others
		} else {
			for i := range sources {
				_ = copyOne(i) // copy errors end one source; the stream goes on with the others
			}
		}
		_ = pw.Close() // best-effort cleanup; nothing useful to do on failure
	}()
	return &logStream{PipeReader: pr, cancel: cancel}
}

type logStream struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (l *logStream) Close() error {
	l.cancel()
	return l.PipeReader.Close()
}

// lineWriter writes whole lines, each with a prefix, to a shared writer.
type lineWriter struct {
	prefix string
	out    io.Writer
	mu     *sync.Mutex
	buf    []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if err := l.emit(l.buf[:i+1]); err != nil {
			return 0, err
		}
		l.buf = l.buf[i+1:]
	}
}

func (l *lineWriter) emit(line []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := l.out.Write(append([]byte(l.prefix), line...))
	return err
}

// flush writes a last line that had no newline.
func (l *lineWriter) flush() {
	if len(l.buf) > 0 {
		_ = l.emit(append(l.buf, '\n')) // the reader went away; nothing left to report to
		l.buf = nil
	}
}

// TailBuffer keeps the last Max bytes written to it.
type TailBuffer struct {
	Max       int
	buf       []byte
	truncated bool
}

// Write keeps p's bytes, dropping the oldest beyond Max.
func (t *TailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.Max { // compact now and then, not on every write
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.Max:]...)
		t.truncated = true
	}
	return len(p), nil
}

// String returns the kept bytes, without a partial first line if truncated.
func (t *TailBuffer) String() string {
	s := string(t.buf)
	if len(s) > t.Max {
		s, t.truncated = s[len(s)-t.Max:], true
	}
	if t.truncated {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return s
}
