package docker

import (
	"context"
	"fmt"
	"io"
	"strconv"

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

	sources := make([]runtime.LogSource, len(streams))
	for i, rc := range streams {
		sources[i] = runtime.LogSource{
			Prefix: fmt.Sprintf("[%d] ", replicaNumber(s.replicas[i])),
			Copy: func(stdout, stderr io.Writer) error {
				_, err := stdcopy.StdCopy(stdout, stderr, rc)
				return err
			},
			Close: rc.Close,
		}
	}
	return runtime.MergeLogs(cancel, sources, opts.Follow), nil
}
