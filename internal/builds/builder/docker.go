package builder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"

	"github.com/spacepods/spacepods/internal/builds"
)

// Docker is the part of the Docker Engine API the builder uses
// (*client.Client implements it).
type Docker interface {
	ImageBuild(ctx context.Context, buildContext io.Reader, options build.ImageBuildOptions) (build.ImageBuildResponse, error)
	ImagePush(ctx context.Context, image string, options image.PushOptions) (io.ReadCloser, error)
}

// message is one message of the Engine's JSON progress streams (build and
// push): build output in Stream, push progress in Status/ID, the result in
// Aux, a failure in Error.
type message struct {
	Stream   string `json:"stream"`
	Status   string `json:"status"`
	ID       string `json:"id"`
	Progress *struct {
		Current int64 `json:"current"`
		Total   int64 `json:"total"`
	} `json:"progressDetail"`
	Error *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	ErrorMessage string          `json:"error"`
	Aux          json.RawMessage `json:"aux"`
}

// readMessages turns a JSON message stream into log lines, passing each Aux
// to aux, and returns the stream's error message, if any.
func readMessages(r io.Reader, logf func(format string, args ...any), aux func(json.RawMessage)) error {
	dec := json.NewDecoder(r)
	for {
		var m message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read the Docker Engine's progress: %w", err)
		}
		switch {
		case m.Error != nil || m.ErrorMessage != "":
			msg := m.ErrorMessage
			if m.Error != nil && m.Error.Message != "" {
				msg = m.Error.Message
			}
			logf("ERROR: %s\n", strings.TrimSpace(msg))
			return errors.New(strings.TrimSpace(msg))
		case m.Stream != "":
			logf("%s", m.Stream)
		case m.Status != "":
			// A layer's byte counts repeat many times a second: keep its
			// states (Preparing, Pushed, Layer already exists), not them.
			if m.Progress != nil && m.Progress.Total > 0 {
				break
			}
			if m.ID != "" {
				logf("%s: %s\n", m.ID, m.Status)
			} else {
				logf("%s\n", m.Status)
			}
		}
		if len(m.Aux) > 0 && aux != nil {
			aux(m.Aux)
		}
	}
}

// buildImage builds the context tar as image (tag) and streams the
// Engine's output to logf. It returns the image ID.
func buildImage(ctx context.Context, d Docker, tarball io.Reader, dockerfile, tag string, logf func(string, ...any)) (string, error) {
	resp, err := d.ImageBuild(ctx, tarball, build.ImageBuildOptions{
		Tags: []string{tag}, Dockerfile: dockerfile,
		Remove: true, ForceRemove: true, Version: build.BuilderV1,
	})
	if err != nil {
		return "", fmt.Errorf("docker build: %w", err)
	}
	defer func() { _ = resp.Body.Close() }() // read to the end below
	var id string
	err = readMessages(resp.Body, logf, func(raw json.RawMessage) {
		var a struct{ ID string }
		if json.Unmarshal(raw, &a) == nil && a.ID != "" {
			id = a.ID
		}
	})
	if err != nil {
		return "", fmt.Errorf("docker build: %w", err)
	}
	return id, nil
}

var digestLineRE = regexp.MustCompile(`: digest: (sha256:[0-9a-f]{64}) size: \d+`)

// pushImage pushes tag to its registry, logging in with reg's credentials
// when it has some, and returns the pushed manifest's digest.
func pushImage(ctx context.Context, d Docker, reg builds.Registry, tag string, logf func(string, ...any)) (string, error) {
	auth, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: reg.Username, Password: reg.Password, ServerAddress: reg.Host})
	if err != nil {
		return "", err
	}
	rc, err := d.ImagePush(ctx, tag, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		return "", fmt.Errorf("docker push: %w", err)
	}
	defer func() { _ = rc.Close() }() // read to the end below
	var digest string
	// The digest comes in the stream's aux message, and in a status line
	// "TAG: digest: sha256:… size: N" that older Engines send alone.
	logDigest := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		if m := digestLineRE.FindStringSubmatch(line); m != nil && digest == "" {
			digest = m[1]
		}
		logf("%s", line)
	}
	err = readMessages(rc, logDigest, func(raw json.RawMessage) {
		var a struct{ Digest string }
		if json.Unmarshal(raw, &a) == nil && a.Digest != "" {
			digest = a.Digest
		}
	})
	if err != nil {
		return "", fmt.Errorf("docker push to %s: %w", reg.Host, err)
	}
	return digest, nil
}
