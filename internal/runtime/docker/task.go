package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/spacepods/spacepods/internal/runtime"
)

// RunTask runs a one-off container on the environment's network, waits for it
// to exit and removes it (in the background, once it has returned). A non-zero exit is not an error: it is in the
// result. A task still running after its timeout is killed, and its result
// comes back with an EINVALID error. ENOTFOUND if the environment does not
// exist; EINVALID for an image missing on this host.
func (d *Driver) RunTask(ctx context.Context, task runtime.TaskSpec) (runtime.TaskResult, error) {
	if err := task.Validate(); err != nil {
		return runtime.TaskResult{}, err
	}
	timeout := task.TimeoutOrDefault()
	if _, err := d.network(ctx, task.Environment); err != nil {
		return runtime.TaskResult{}, err
	}
	if err := d.requireImage(ctx, task.Image); err != nil {
		return runtime.TaskResult{}, err
	}
	secrets, err := runtime.ResolveSecrets(ctx, d.secrets, task.Secrets)
	if err != nil {
		return runtime.TaskResult{}, err
	}

	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := runtime.ObjectName("spacepods", task.Environment, task.Name, "task", hex.EncodeToString(suffix))
	cfg := &container.Config{
		Image:      task.Image,
		Entrypoint: task.Command,
		Cmd:        task.Args,
		Env:        envList(runtime.Merged(task.Env, secrets)), // a task container is started at once
		Labels:     runtime.Labels(task.Labels, task.Environment, task.App, task.Name, runtime.RoleTask, task.Release, d.installation),
	}
	host := &container.HostConfig{NetworkMode: container.NetworkMode(networkName(task.Environment)), ExtraHosts: runtime.HostsList(task.Hosts)}
	created, err := d.client.ContainerCreate(ctx, cfg, host, nil, nil, name)
	if err != nil {
		return runtime.TaskResult{}, d.wrap(err, "create task container "+name)
	}
	id := created.ID
	// Clean up even when ctx is cancelled, and after returning: removing
	// a container costs Docker a good part of a second on a busy host, and
	// the caller (a deploy's migration step) waits for nothing of it. Close
	// waits for these removals.
	cleanup := context.WithoutCancel(ctx)
	d.cleanups.Add(1)
	defer func() {
		go func() {
			defer d.cleanups.Done()
			ctx, cancel := context.WithTimeout(cleanup, time.Minute)
			defer cancel()
			if err := d.remove(ctx, id, false); err != nil {
				d.logger.Warn("remove a finished task's container", "container", name, "err", err)
			}
		}()
	}()

	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	exited, waitErr := d.client.ContainerWait(waitCtx, id, container.WaitConditionNextExit)
	if err := d.client.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return runtime.TaskResult{}, d.wrap(err, "start task container "+name)
	}
	log := d.logger.With("env", task.Environment, "task", task.Name, "container", name)
	log.Info("task started", "image", task.Image)
	if task.Output != nil {
		streamed := d.followTask(cleanup, id, task.Output)
		defer streamed()
	}

	select {
	case w := <-exited:
		res := runtime.TaskResult{ExitCode: int(w.StatusCode), LogTail: d.taskLogs(cleanup, id)}
		if w.Error != nil && w.Error.Message != "" {
			return res, d.wrap(errors.New(w.Error.Message), "wait for task "+name)
		}
		log.Info("task finished", "exit_code", res.ExitCode)
		return res, nil
	case err := <-waitErr:
		_ = d.client.ContainerKill(cleanup, id, "KILL") // best-effort cleanup; nothing useful to do on failure
		res := runtime.TaskResult{ExitCode: -1, LogTail: d.taskLogs(cleanup, id)}
		if ctx.Err() != nil {
			log.Info("task cancelled")
			return res, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			log.Info("task timed out", "timeout", timeout)
			return res, runtime.TaskTimedOut(task.Name, timeout)
		}
		return res, d.wrap(err, "wait for task "+name)
	}
}

// taskLogs returns the last runtime.TaskLogTailBytes of a container's stdout and
// stderr, starting at a line boundary.
func (d *Driver) taskLogs(ctx context.Context, id string) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rc, err := d.client.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return ""
	}
	defer rc.Close()
	tail := &runtime.TailBuffer{Max: runtime.TaskLogTailBytes}
	_, _ = stdcopy.StdCopy(tail, tail, rc) // the reader went away; nothing left to report to
	return tail.String()
}

// followTask copies a running container's stdout and stderr to out until
// the container ends, and returns a function that waits for the copy to
// end (bounded: the log stream of a container removed early may hang).
func (d *Driver) followTask(ctx context.Context, id string, out io.Writer) (wait func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rc, err := d.client.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
		if err != nil {
			return
		}
		defer rc.Close()
		_, _ = stdcopy.StdCopy(out, out, rc) // the reader went away; nothing left to report to
	}()
	return func() {
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		cancel()
		<-done
	}
}
