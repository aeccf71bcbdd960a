package kubernetes

import (
	"context"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

var _ runtime.Suspender = (*Driver)(nil)

// annotationSuspended keeps a suspended Deployment's replica count, which
// ResumeService scales it back to.
const annotationSuspended = "spacepods.suspended-replicas"

// SuspendService scales the service's Deployment to zero, keeping its
// replica count in an annotation (the Deployment, its Services and Secret
// stay). Suspending a suspended service changes nothing. ENOTFOUND if no
// such service.
func (d *Driver) SuspendService(ctx context.Context, env, name string) error {
	dep, err := d.getDeployment(ctx, env, name)
	if err != nil {
		return err
	}
	if _, ok := dep.Annotations[annotationSuspended]; ok {
		return nil
	}
	have := int(ptrValue(dep.Spec.Replicas))
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:"%d"}},"spec":{"replicas":0}}`, annotationSuspended, have)
	if err := d.patchDeployment(ctx, env, name, patch, "suspend"); err != nil {
		return err
	}
	if err := d.waitScaledDown(ctx, dep, 0); err != nil {
		return err
	}
	d.logger.Info("service suspended", "env", env, "service", name, "replicas", have)
	return nil
}

// ResumeService scales a suspended service's Deployment back to the
// replica count it had. A service that is not suspended is left alone.
// ENOTFOUND if no such service.
func (d *Driver) ResumeService(ctx context.Context, env, name string) error {
	dep, err := d.getDeployment(ctx, env, name)
	if err != nil {
		return err
	}
	v, ok := dep.Annotations[annotationSuspended]
	if !ok {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return spacepods.Errorf(spacepods.EINVALID, "deployment %s in environment %s: annotation %s=%q is not a replica count: scale it with `spacepods` again or fix the annotation", name, env, annotationSuspended, v)
	}
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:null}},"spec":{"replicas":%d}}`, annotationSuspended, n)
	if err := d.patchDeployment(ctx, env, name, patch, "resume"); err != nil {
		return err
	}
	d.logger.Info("service resumed", "env", env, "service", name, "replicas", n)
	return nil
}

func (d *Driver) patchDeployment(ctx context.Context, env, name string, patch []byte, what string) error {
	defer d.lock(d.Namespace(env))()
	_, err := d.client.AppsV1().Deployments(d.Namespace(env)).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return spacepods.Errorf(spacepods.ENOTFOUND, "service %q not found in environment %q", name, env)
	}
	if err != nil {
		return d.wrap(err, what+" deployment "+name)
	}
	return nil
}
