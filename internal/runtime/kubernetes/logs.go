package kubernetes

import (
	"context"
	"io"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/spacepods/spacepods/internal/runtime"
)

// Logs streams the logs of every replica (pod) of a service through the
// pods' log API, each line prefixed with "[<pod name>] ". Tail counts lines
// per replica. Without Follow the replicas come one after the other; with
// Follow their lines interleave as they come. Replicas whose container has
// not started yet are left out. Close stops the stream. ENOTFOUND if no
// such service.
func (d *Driver) Logs(ctx context.Context, env, name string, opts runtime.LogOptions) (io.ReadCloser, error) {
	dep, err := d.getDeployment(ctx, env, name)
	if err != nil {
		return nil, err
	}
	pods, err := d.pods(ctx, dep.Namespace, selectorOf(dep))
	if err != nil {
		return nil, err
	}
	sortPods(pods)
	ctx, cancel := context.WithCancel(ctx)
	type stream struct {
		pod string
		rc  io.ReadCloser
	}
	var streams []stream
	for _, p := range pods {
		c := taskContainer(&p) // the same container name as a task's
		if c == nil || (c.State.Running == nil && c.State.Terminated == nil && c.LastTerminationState.Terminated == nil) {
			continue // never started: no log yet
		}
		o := &corev1.PodLogOptions{Container: containerName, Follow: opts.Follow}
		if opts.Tail > 0 {
			o.TailLines = new(int64(opts.Tail))
		}
		rc, err := d.client.CoreV1().Pods(p.Namespace).GetLogs(p.Name, o).Stream(ctx)
		if apierrors.IsBadRequest(err) || apierrors.IsNotFound(err) {
			d.logger.Info("logs of pod", "namespace", p.Namespace, "pod", p.Name, "err", err)
			continue // e.g. the container is between two runs, or the pod just went
		}
		if err != nil {
			cancel()
			for _, s := range streams {
				s.rc.Close()
			}
			return nil, d.wrap(err, "logs of pod "+p.Name)
		}
		streams = append(streams, stream{p.Name, rc})
	}

	sources := make([]runtime.LogSource, len(streams))
	for i, st := range streams {
		sources[i] = runtime.LogSource{
			Prefix: "[" + st.pod + "] ",
			Copy: func(stdout, _ io.Writer) error {
				_, err := io.Copy(stdout, st.rc)
				return err
			},
			Close: st.rc.Close,
		}
	}
	return runtime.MergeLogs(cancel, sources, opts.Follow), nil
}
