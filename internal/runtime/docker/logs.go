package docker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/spacepods/spacepods/internal/runtime"
)

// Logs streams the stdout and stderr of every replica of a service, each
// line prefixed with "[<replica number>] ". Tail counts lines per replica.
// Without Follow the replicas come one after the other; with Follow their
// lines interleave as they come. Close stops the stream. ENOTFOUND if no
// such service.
func (d *Driver) Logs(ctx context.Context, env, name string, opts runtime.LogOptions) (io.ReadCloser, error) {
	s, err := d.findService(ctx, env, name)
	if err != nil {
		return nil, err
	}
	tail := "all"
	if opts.Tail > 0 {
		tail = strconv.Itoa(opts.Tail)
	}
	ctx, cancel := context.WithCancel(ctx)
	streams := make([]io.ReadCloser, 0, len(s.replicas))
	for _, c := range s.replicas {
		rc, err := d.client.ContainerLogs(ctx, c.ID, container.LogsOptions{
			ShowStdout: true, ShowStderr: true, Follow: opts.Follow, Tail: tail,
		})
		if err != nil {
			cancel()
			for _, rc := range streams {
				rc.Close()
			}
			return nil, d.wrap(err, "logs of "+c.ID[:12])
		}
		streams = append(streams, rc)
	}

	pr, pw := io.Pipe()
	var mu sync.Mutex
	copyOne := func(i int) error {
		defer streams[i].Close()
		prefix := fmt.Sprintf("[%d] ", replicaNumber(s.replicas[i]))
		stdout := &lineWriter{prefix: prefix, out: pw, mu: &mu}
		stderr := &lineWriter{prefix: prefix, out: pw, mu: &mu}
		_, err := stdcopy.StdCopy(stdout, stderr, streams[i])
		stdout.flush()
		stderr.flush()
		return err
	}
	go func() {
		defer cancel()
		if opts.Follow {
			parallel(len(streams), copyOne)
		} else {
			for i := range streams {
				copyOne(i)
			}
		}
		pw.Close()
	}()
	return &logStream{PipeReader: pr, cancel: cancel}, nil
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
		l.emit(append(l.buf, '\n'))
		l.buf = nil
	}
}
