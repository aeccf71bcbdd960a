package kubernetes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// fatalWaiting are the reasons a container waits for ever: the task cannot
// start, so RunTask gives up at once.
var fatalWaiting = []string{
	"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
	"CreateContainerConfigError", "CreateContainerError", "RunContainerError",
}

// RunTask runs a one-off Job (one pod, no retries) in the environment's
// namespace, waits for it to finish, reads its exit code and log tail, and
// deletes it. A non-zero exit is not an error: it is in the result. A task
// still running after its timeout is killed, and its result comes back with
// an EINVALID error. ENOTFOUND if the environment does not exist; EINVALID
// for a bad spec or a container that cannot start (e.g. an image that
// cannot be pulled).
func (d *Driver) RunTask(ctx context.Context, task runtime.TaskSpec) (runtime.TaskResult, error) {
	if err := task.Validate(); err != nil {
		return runtime.TaskResult{}, err
	}
	if err := validLabels(task.Labels); err != nil {
		return runtime.TaskResult{}, err
	}
	if err := validLabels(map[string]string{runtime.LabelApp: task.App}); err != nil {
		return runtime.TaskResult{}, err
	}
	timeout := task.TimeoutOrDefault()
	ns, err := d.liveNamespace(ctx, task.Environment)
	if err != nil {
		return runtime.TaskResult{}, err
	}
	if err := d.ensurePullSecret(ctx, task.Environment, ns); err != nil {
		return runtime.TaskResult{}, err
	}

	job := d.job(ns, task, timeout)
	// Clean up even when ctx is cancelled.
	cleanup := context.WithoutCancel(ctx)
	var secret *corev1.Secret
	if len(task.Secrets) > 0 {
		values, err := runtime.ResolveSecrets(ctx, d.cfg.Secrets, task.Secrets)
		if err != nil {
			return runtime.TaskResult{}, err
		}
		if secret, err = d.putEnvSecret(ctx, ns, envSecretName(job.Name), job.Labels, values); err != nil {
			return runtime.TaskResult{}, err
		}
		defer func() {
			if err := d.deleteEnvSecret(cleanup, ns, job.Name); err != nil {
				d.logger.Warn("delete task secret", "env", task.Environment, "job", job.Name, "err", err)
			}
		}()
		c := &job.Spec.Template.Spec.Containers[0]
		c.Env = append(c.Env, secretEnvVars(task.Secrets, secret.Name)...)
	}
	made, err := d.client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		return runtime.TaskResult{}, d.wrap(err, "create job "+job.Name)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(cleanup, time.Minute)
		defer cancel()
		bg := metav1.DeletePropagationBackground
		err := d.client.BatchV1().Jobs(ns).Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &bg, GracePeriodSeconds: new(int64(0))})
		if err != nil && !apierrors.IsNotFound(err) {
			d.logger.Warn("delete task job", "env", task.Environment, "job", job.Name, "err", err)
		}
	}()
	if secret != nil {
		// Should this process die before the cleanup above, the Job's
		// TTL and the garbage collector take the Secret away with it.
		if err := d.ownEnvSecret(ctx, secret, ownerRef("batch/v1", "Job", made.ObjectMeta)); err != nil {
			return runtime.TaskResult{}, err
		}
	}
	log := d.logger.With("env", task.Environment, "task", task.Name, "job", job.Name)
	log.Info("task started", "image", task.Image)

	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if task.Output != nil {
		defer d.followTask(waitCtx, ns, job.Name, task.Output)()
	}
	pod, err := d.waitTask(waitCtx, ns, job.Name)
	switch {
	case err == nil:
		c := taskContainer(pod)
		if c == nil || c.State.Terminated == nil {
			return runtime.TaskResult{ExitCode: -1}, spacepods.Errorf(spacepods.EINTERNAL,
				"task %q: pod %s ended (%s) without an exit code: %s", task.Name, pod.Name, pod.Status.Reason, pod.Status.Message)
		}
		res := runtime.TaskResult{ExitCode: int(c.State.Terminated.ExitCode), LogTail: d.taskLogs(cleanup, ns, pod.Name)}
		log.Info("task finished", "exit_code", res.ExitCode)
		return res, nil
	case ctx.Err() != nil:
		log.Info("task cancelled")
		return runtime.TaskResult{ExitCode: -1, LogTail: d.taskLogs(cleanup, ns, podName(pod))}, ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		log.Info("task timed out", "timeout", timeout)
		res := runtime.TaskResult{ExitCode: -1, LogTail: d.taskLogs(cleanup, ns, podName(pod))}
		return res, runtime.TaskTimedOut(task.Name, timeout)
	}
	return runtime.TaskResult{ExitCode: -1}, err
}

func podName(p *corev1.Pod) string {
	if p == nil {
		return ""
	}
	return p.Name
}

// job is the Job of a task: one pod, never restarted, with a server-side
// deadline a minute past the timeout in case the control plane is gone.
func (d *Driver) job(ns string, task runtime.TaskSpec, timeout time.Duration) *batchv1.Job {
	suffix := make([]byte, 4)
	rand.Read(suffix)
	name := strings.TrimRight(task.Name[:min(len(task.Name), 54)], "-") + "-" + hex.EncodeToString(suffix)
	l := runtime.Labels(task.Labels, task.Environment, task.App, task.Name, runtime.RoleTask, task.Release, d.cfg.Installation)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: l},
		Spec: batchv1.JobSpec{
			BackoffLimit:            new(int32(0)),
			ActiveDeadlineSeconds:   new(int64((timeout + time.Minute).Seconds())),
			TTLSecondsAfterFinished: new(taskTTLSeconds),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: l},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					TerminationGracePeriodSeconds: new(stopGrace),
					Containers: []corev1.Container{{
						Name:                     containerName,
						Image:                    task.Image,
						Command:                  task.Command,
						Args:                     task.Args,
						Env:                      envVars(task.Env),
						ImagePullPolicy:          corev1.PullPolicy(d.cfg.ImagePullPolicy),
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
					}},
					EnableServiceLinks:           new(false),
					AutomountServiceAccountToken: new(false),
					ImagePullSecrets:             d.imagePullSecrets(),
					HostAliases:                  hostAliases(task.Hosts),
				},
			},
		},
	}
}

// waitTask polls the Job's pod until it has finished, and returns it. It
// returns the last pod seen with ctx's error when ctx ends first, and
// EINVALID when the container cannot start.
func (d *Driver) waitTask(ctx context.Context, ns, job string) (*corev1.Pod, error) {
	var last *corev1.Pod
	for wait := 100 * time.Millisecond; ; wait = min(wait*2, time.Second) {
		list, err := d.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: jobNameLabel + "=" + job})
		if err != nil && ctx.Err() == nil {
			return last, d.wrap(err, "list pods of job "+job)
		}
		if err == nil {
			for i := range list.Items {
				p := &list.Items[i]
				last = p
				if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
					return p, nil
				}
				if c := taskContainer(p); c != nil && c.State.Waiting != nil && slices.Contains(fatalWaiting, c.State.Waiting.Reason) {
					return p, spacepods.Errorf(spacepods.EINVALID, "task container cannot start: %s: %s", c.State.Waiting.Reason, c.State.Waiting.Message)
				}
			}
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(wait):
		}
	}
}

func taskContainer(p *corev1.Pod) *corev1.ContainerStatus {
	if p == nil {
		return nil
	}
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == containerName {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// taskLogs returns the last runtime.TaskLogTailBytes of a pod's log, starting at a
// line boundary ("" if it cannot be read).
func (d *Driver) taskLogs(ctx context.Context, ns, pod string) string {
	if pod == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rc, err := d.client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: containerName}).Stream(ctx)
	if err != nil {
		d.logger.Info("task logs", "namespace", ns, "pod", pod, "err", err)
		return ""
	}
	defer rc.Close()
	tail := &runtime.TailBuffer{Max: runtime.TaskLogTailBytes}
	_, _ = io.Copy(tail, rc) // the reader went away; nothing left to report to
	return tail.String()
}

// followTask copies the log of the Job's pod to out while it runs, from
// when its container has started, and returns a function that stops the
// copy and waits for it to end. It is best effort: TaskResult.LogTail is
// read separately, once the task has ended.
func (d *Driver) followTask(ctx context.Context, ns, job string, out io.Writer) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for wait := 100 * time.Millisecond; ; wait = min(wait*2, time.Second) {
			list, err := d.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: jobNameLabel + "=" + job})
			if err == nil {
				for _, p := range list.Items {
					if c := taskContainer(&p); c != nil && (c.State.Running != nil || c.State.Terminated != nil) {
						rc, err := d.client.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: containerName, Follow: true}).Stream(ctx)
						if err != nil {
							return
						}
						defer rc.Close()
						_, _ = io.Copy(out, rc) // the reader went away; nothing left to report to
						return
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}()
	return func() {
		// A kubelet ends the stream with the container; give it a
		// moment to flush the last lines.
		select {
		case <-done:
		case <-time.After(500 * time.Millisecond):
		}
		cancel()
		<-done
	}
}
