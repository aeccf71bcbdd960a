package runtime

import "context"

// Suspender is an optional ability: a service is put to sleep and woken
// again without being made anew. SuspendService stops its replicas but
// keeps what a fast start needs (Docker: the stopped containers;
// Kubernetes: the Deployment scaled to zero, its replica count kept in an
// annotation); the service's status then shows no running replica.
// ResumeService starts them again, as many as before; their addresses may
// change (ServiceStatus reports the new ones). Both are idempotent;
// ENOTFOUND if there is no such service.
type Suspender interface {
	SuspendService(ctx context.Context, env, name string) error
	ResumeService(ctx context.Context, env, name string) error
}
