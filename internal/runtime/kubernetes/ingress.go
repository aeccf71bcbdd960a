package kubernetes

import (
	"context"
	"maps"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Host returns an app's host name in an environment: <app>.<env>.<domain>.
func (d *Driver) Host(env, app string) string { return app + "." + env + "." + d.cfg.Domain }

// Route makes the app's Ingress (named after the app, with the configured
// ingress class) send its host to the Service of target, a service name or
// an alias: routing to an alias shared by two releases splits traffic by
// their ready replicas, which is what a staged rollout scales. It returns
// the host. ENOTFOUND if the environment or target does not exist; EINVALID
// if target has no port (a worker).
func (d *Driver) Route(ctx context.Context, env, app, target string) (string, error) {
	if err := validDNSName("app", app); err != nil {
		return "", err
	}
	ns, err := d.liveNamespace(ctx, env)
	if err != nil {
		return "", err
	}
	svc, err := d.client.CoreV1().Services(ns).Get(ctx, target, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && svc.Labels[runtime.LabelManaged] != "true") {
		return "", spacepods.Errorf(spacepods.ENOTFOUND, "no service or alias %q in environment %q", target, env)
	}
	if err != nil {
		return "", d.wrap(err, "get service "+target)
	}
	if len(svc.Spec.Ports) == 0 {
		return "", spacepods.Errorf(spacepods.EINVALID, "%q in environment %q has no port: only web services can be routed", target, env)
	}
	host := d.Host(env, app)
	prefix := networkingv1.PathTypePrefix
	spec := networkingv1.IngressSpec{
		Rules: []networkingv1.IngressRule{{
			Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{
					Path:     "/",
					PathType: &prefix,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: target,
						Port: networkingv1.ServiceBackendPort{Number: svc.Spec.Ports[0].Port},
					}},
				}},
			}},
		}},
	}
	if d.cfg.IngressClass != "" {
		spec.IngressClassName = new(d.cfg.IngressClass)
	}
	if d.cfg.IngressTLS {
		spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: app + "-tls"}}
	}
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{
			Name:        app,
			Namespace:   ns,
			Labels:      d.appLabels(env, app),
			Annotations: maps.Clone(d.cfg.IngressAnnotations),
		},
		Spec: spec,
	}
	ings := d.client.NetworkingV1().Ingresses(ns)
	have, err := ings.Get(ctx, app, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = ings.Create(ctx, ing, metav1.CreateOptions{})
	case err == nil && have.Labels[runtime.LabelManaged] != "true":
		return "", spacepods.Errorf(spacepods.ECONFLICT, "ingress %s/%s exists but Spacepods did not create it", ns, app)
	case err == nil:
		have.Labels, have.Spec = ing.Labels, ing.Spec
		if have.Annotations == nil {
			have.Annotations = map[string]string{}
		}
		maps.Copy(have.Annotations, ing.Annotations) // others (a controller's) stay
		_, err = ings.Update(ctx, have, metav1.UpdateOptions{})
	}
	if err != nil {
		return "", d.wrap(err, "write ingress "+app)
	}
	d.logger.Info("route set", "env", env, "app", app, "host", host, "target", target)
	return host, nil
}

// Unroute deletes the app's Ingress. A missing one is not an error.
func (d *Driver) Unroute(ctx context.Context, env, app string) error {
	if validName("environment", env) != nil || validName("app", app) != nil {
		return nil
	}
	ns := d.Namespace(env)
	have, err := d.client.NetworkingV1().Ingresses(ns).Get(ctx, app, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return d.wrap(err, "get ingress "+app)
	}
	if have.Labels[runtime.LabelManaged] != "true" {
		return spacepods.Errorf(spacepods.ECONFLICT, "ingress %s/%s exists but Spacepods did not create it: it was left alone", ns, app)
	}
	err = d.client.NetworkingV1().Ingresses(ns).Delete(ctx, app, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &have.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		return d.wrap(err, "delete ingress "+app)
	}
	d.logger.Info("route removed", "env", env, "app", app)
	return nil
}
