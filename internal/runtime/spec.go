package runtime

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// dnsLabel is what environment, service and task names must look like on
// every driver: they end up in container, network and namespace names.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidateName checks an environment, service or task name. EINVALID.
func ValidateName(kind, name string) error {
	if !dnsLabel.MatchString(name) {
		return spacepods.Errorf(spacepods.EINVALID,
			"%s name %q is not a DNS label: use 1-63 lower-case letters, digits and dashes", kind, name)
	}
	return nil
}

// Validate checks what every driver needs of a service spec. EINVALID.
func (s ServiceSpec) Validate() error {
	if err := ValidateName("environment", s.Environment); err != nil {
		return err
	}
	if err := ValidateName("service", s.Name); err != nil {
		return err
	}
	switch {
	case s.Role == RoleTask:
		return spacepods.Errorf(spacepods.EINVALID, "service %q: role %q is for RunTask", s.Name, s.Role)
	case s.Role != RoleWeb && s.Role != RoleWorker:
		return spacepods.Errorf(spacepods.EINVALID, "service %q: role %q: use web or worker", s.Name, s.Role)
	case s.Image == "":
		return spacepods.Errorf(spacepods.EINVALID, "service %q has no image", s.Name)
	case s.Replicas < 0:
		return spacepods.Errorf(spacepods.EINVALID, "service %q: replicas must be 0 or more", s.Name)
	case s.Port < 0 || s.Port > 65535:
		return spacepods.Errorf(spacepods.EINVALID, "service %q: port %d is out of range", s.Name, s.Port)
	case s.Health.Path != "" && !strings.HasPrefix(s.Health.Path, "/"):
		return spacepods.Errorf(spacepods.EINVALID, "service %q: health path must start with /", s.Name)
	}
	return validateSecrets("service", s.Name, s.Env, s.Secrets)
}

// Validate checks what every driver needs of a task spec. EINVALID.
func (t TaskSpec) Validate() error {
	if err := ValidateName("environment", t.Environment); err != nil {
		return err
	}
	if err := ValidateName("task", t.Name); err != nil {
		return err
	}
	if t.Image == "" {
		return spacepods.Errorf(spacepods.EINVALID, "task %q has no image", t.Name)
	}
	return validateSecrets("task", t.Name, t.Env, t.Secrets)
}

// DefaultTaskTimeout is how long RunTask lets a task run when its spec sets
// no Timeout.
const DefaultTaskTimeout = 10 * time.Minute

// TimeoutOrDefault returns the task's Timeout, or DefaultTaskTimeout when it
// is not set.
func (t TaskSpec) TimeoutOrDefault() time.Duration {
	if t.Timeout <= 0 {
		return DefaultTaskTimeout
	}
	return t.Timeout
}

// TaskTimedOut is the error of a task that was killed because it still ran
// after timeout. EINVALID: the spec (its timeout, or the task) needs a fix.
func TaskTimedOut(name string, timeout time.Duration) error {
	return spacepods.Errorf(spacepods.EINVALID,
		"task %q was still running after its timeout of %s and was killed: raise the timeout or make the task faster",
		name, timeout)
}

// ValidateReplicas checks a ScaleService replica count. EINVALID.
func ValidateReplicas(n int) error {
	if n < 0 {
		return spacepods.Errorf(spacepods.EINVALID, "replicas must be 0 or more, not %d", n)
	}
	return nil
}

// validateSecrets checks that every secret env var has a name and a
// reference, and is not also a plain var (one of the two would be lost).
func validateSecrets(kind, name string, env, secrets map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(secrets)) {
		switch {
		case !spacepods.ValidEnvVarName(k):
			return spacepods.Errorf(spacepods.EINVALID, "%s %q: secret env var %q is not a valid name", kind, name, k)
		case secrets[k] == "":
			return spacepods.Errorf(spacepods.EINVALID, "%s %q: secret env var %s has no reference", kind, name, k)
		}
		if _, dup := env[k]; dup {
			return spacepods.Errorf(spacepods.EINVALID, "%s %q: %s is both a plain and a secret env var", kind, name, k)
		}
	}
	return nil
}

// ResolveSecrets reads the values of refs through r: none when refs is
// empty, EUNAVAILABLE when there are refs but no resolver.
func ResolveSecrets(ctx context.Context, r SecretResolver, refs map[string]string) (map[string]string, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	if r == nil {
		return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "the spec names %d secret env vars but the runtime driver has no secret store to read them from", len(refs))
	}
	values, err := r.ResolveSecrets(ctx, refs)
	if err != nil {
		return nil, err
	}
	for k := range refs {
		if _, ok := values[k]; !ok {
			return nil, spacepods.Errorf(spacepods.EINTERNAL, "the secret store returned no value for %s", k)
		}
	}
	return values, nil
}

// Merged returns env with values laid over it, in a new map (the env of a
// started container).
func Merged(env, values map[string]string) map[string]string {
	out := make(map[string]string, len(env)+len(values))
	maps.Copy(out, env)
	maps.Copy(out, values)
	return out
}

// EnvLabels returns the labels of an environment's scope (a network, a
// namespace): extra plus the Spacepods labels, which win. installation ""
// sets none.
func EnvLabels(extra map[string]string, env, installation string) map[string]string {
	l := maps.Clone(extra)
	if l == nil {
		l = map[string]string{}
	}
	l[LabelManaged] = "true"
	l[LabelEnvironment] = env
	if installation != "" {
		l[LabelInstallation] = installation
	}
	return l
}

// Ours reports whether labels mark an object of env made by installation
// (any installation's when that is "").
func Ours(labels map[string]string, env, installation string) bool {
	return labels[LabelManaged] == "true" && labels[LabelEnvironment] == env &&
		(installation == "" || labels[LabelInstallation] == installation)
}

// CheckOwner returns nil when labels mark an object of env made by
// installation, else ECONFLICT saying who made it: another installation, or
// not Spacepods (then fix says what to do). what names the object, e.g.
// "Docker network spacepods-demo".
func CheckOwner(labels map[string]string, env, installation, what, fix string) error {
	switch {
	case Ours(labels, env, installation):
		return nil
	case Ours(labels, env, ""):
		return spacepods.Errorf(spacepods.ECONFLICT, "%s belongs to another Spacepods installation (%s): pick another environment name", what, labels[LabelInstallation])
	}
	return spacepods.Errorf(spacepods.ECONFLICT, "%s exists but Spacepods did not create it: %s", what, fix)
}

// Labels returns the labels of every object made for a service or task:
// extra plus the Spacepods labels, which win.
func Labels(extra map[string]string, env, app, service, role string, release int, installation string) map[string]string {
	l := EnvLabels(extra, env, installation)
	l[LabelApp] = app
	l[LabelRelease] = strconv.Itoa(release)
	l[LabelRole] = role
	l[LabelService] = service
	return l
}

// HostsList returns hosts as sorted "name:ip" entries (Docker's ExtraHosts).
func HostsList(hosts map[string]string) []string {
	out := make([]string, 0, len(hosts))
	for _, name := range slices.Sorted(maps.Keys(hosts)) {
		out = append(out, name+":"+hosts[name])
	}
	return out
}

// ParseHostsList is the inverse of HostsList.
func ParseHostsList(list []string) map[string]string {
	if len(list) == 0 {
		return nil
	}
	out := make(map[string]string, len(list))
	for _, e := range list {
		if name, ip, ok := strings.Cut(e, ":"); ok {
			out[name] = ip
		}
	}
	return out
}
