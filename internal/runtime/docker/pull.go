package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

var _ runtime.ImageHost = (*Driver)(nil)

// WithRegistry makes the driver log in to l.Host when it pulls from it.
func WithRegistry(l runtime.RegistryLogin) Option { return func(d *Driver) { d.registry = l } }

// ImageID returns the ID of the image ref on this Docker host. ENOTFOUND
// when it is not there.
func (d *Driver) ImageID(ctx context.Context, ref string) (string, error) {
	img, err := d.client.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return "", spacepods.Errorf(spacepods.ENOTFOUND, "image %s is not on this Docker host", ref)
	}
	if err != nil {
		return "", d.wrap(err, "inspect image "+ref)
	}
	return img.ID, nil
}

// requireImage is EnsureImage with the progress in the driver's log (the
// deploy engine calls EnsureImage first, to show it in the deploy's
// events).
func (d *Driver) requireImage(ctx context.Context, ref string) error {
	return d.EnsureImage(ctx, ref, func(line string) { d.logger.Info("pull", "image", ref, "progress", line) })
}

// EnsureImage makes sure ref is on this Docker host, pulling it from the
// registry its name gives when it is not.
func (d *Driver) EnsureImage(ctx context.Context, ref string, progress func(string)) error {
	_, err := d.ImageID(ctx, ref)
	if spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		return err
	}
	switch {
	case runtime.IsImageID(ref):
		return spacepods.Errorf(spacepods.EINVALID,
			"image %s is no longer on this Docker host, and an image only ever on the host (no registry in its name) cannot be pulled back: deploy a build pushed to a registry, or build the image again and record a new build", ref)
	case runtime.RegistryHost(ref) == "":
		// No registry named: never a silent pull from Docker Hub.
		return spacepods.Errorf(spacepods.EINVALID,
			"image %s is not on this Docker host: build it first (scripts/build-examples.sh), or push it to a registry and record the build as <registry>/<repository>:<tag> (Spacepods pulls only from a registry the image's name gives)", ref)
	}
	progress(fmt.Sprintf("image %s is not on this Docker host: pulling it from %s", ref, runtime.RegistryHost(ref)))
	return d.pullImage(ctx, ref, progress)
}

// pullMessage is one line of the Engine's pull stream.
type pullMessage struct {
	Status         string `json:"status"`
	ID             string `json:"id"`
	ProgressDetail struct {
		Current int64 `json:"current"`
		Total   int64 `json:"total"`
	} `json:"progressDetail"`
	Error string `json:"error"`
}

// pullImage pulls ref with the registry login for its host, reporting a
// line per layer pulled and per 25% of the bytes being downloaded.
func (d *Driver) pullImage(ctx context.Context, ref string, progress func(string)) error {
	var opts image.PullOptions
	if l := d.registry.For(runtime.RegistryHost(ref)); l.Username != "" {
		auth, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: l.Username, Password: l.Password, ServerAddress: l.Host})
		if err != nil {
			return err
		}
		opts.RegistryAuth = auth
	}
	rc, err := d.client.ImagePull(ctx, ref, opts)
	if err != nil {
		return pullError(d.wrap(err, "pull image "+ref), ref)
	}
	defer rc.Close()
	p := newPullProgress(ref, progress)
	dec := json.NewDecoder(rc)
	for {
		var m pullMessage
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("pull image %s: read progress: %w", ref, err)
		}
		if m.Error != "" {
			return pullError(spacepods.Errorf(spacepods.EUNAVAILABLE, "pull image %s: %s", ref, m.Error), ref)
		}
		p.add(m)
	}
	p.done()
	return nil
}

// pullError says what to do about a failed pull.
func pullError(err error, ref string) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "not found") || strings.Contains(msg, "manifest unknown"):
		return spacepods.Errorf(spacepods.ENOTFOUND, "image %s is neither on this Docker host nor on its registry: push it (docker push %s), or deploy another build", ref, ref)
	case strings.Contains(msg, "unauthorized") || strings.Contains(msg, "denied"):
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "the registry refused to pull %s: start the server with --registry-username and --registry-password-file for it (%s)", ref, msg)
	}
	return spacepods.Errorf(spacepods.EUNAVAILABLE, "%s: check that the registry is up and that this Docker host reaches it", msg)
}

// pullProgress turns the Engine's chatty pull stream into a few lines: one
// per layer pulled (or already there) and one per 25% of the bytes of
// the layers being downloaded.
type pullProgress struct {
	ref    string
	report func(string)
	layers map[string]bool // layer → done
	sizes  map[string][2]int64
	pulled int
	step   int64 // last 25% step reported
}

func newPullProgress(ref string, report func(string)) *pullProgress {
	return &pullProgress{ref: ref, report: report, layers: map[string]bool{}, sizes: map[string][2]int64{}}
}

func (p *pullProgress) add(m pullMessage) {
	switch m.Status {
	case "Pulling fs layer", "Waiting":
		if _, ok := p.layers[m.ID]; !ok {
			p.layers[m.ID] = false
		}
	case "Downloading":
		p.sizes[m.ID] = [2]int64{m.ProgressDetail.Current, m.ProgressDetail.Total}
		var cur, total int64
		for _, s := range p.sizes {
			cur, total = cur+s[0], total+s[1]
		}
		if total > 0 {
			if step := cur * 4 / total; step > p.step && step < 4 {
				p.step = step
				p.report(fmt.Sprintf("pulling %s: %d%% of %s downloaded", p.ref, step*25, bytesText(total)))
			}
		}
	case "Pull complete", "Already exists":
		if !p.layers[m.ID] {
			p.layers[m.ID] = true
			p.pulled++
			what := "pulled"
			if m.Status == "Already exists" {
				what = "already here"
			}
			p.report(fmt.Sprintf("pulling %s: layer %s %s (%d of %d)", p.ref, m.ID, what, p.pulled, len(p.layers)))
		}
	}
}

func (p *pullProgress) done() {
	p.report(fmt.Sprintf("pulled %s (%d layers)", p.ref, len(p.layers)))
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
