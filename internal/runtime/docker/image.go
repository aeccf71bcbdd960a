package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/build"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// EnsureScratchImage makes sure an image holding one static binary
// (CGO_ENABLED=0) as its entrypoint /app, FROM scratch, exists, and returns
// its reference repo:<first 12 hex digits of the binary's SHA-256>. An image
// already built from the same binary is reused. For tests and examples:
// Spacepods itself never builds application images.
func (d *Driver) EnsureScratchImage(ctx context.Context, repo string, binary []byte) (string, error) {
	sum := sha256.Sum256(binary)
	ref := repo + ":" + hex.EncodeToString(sum[:])[:12]
	if _, err := d.ImageID(ctx, ref); err == nil {
		return ref, nil
	} else if spacepods.ErrorCode(err) != spacepods.ENOTFOUND {
		return "", err
	}
	var buildContext bytes.Buffer
	tw := tar.NewWriter(&buildContext)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n")},
		{"app", 0o755, binary},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	resp, err := d.client.ImageBuild(ctx, &buildContext, build.ImageBuildOptions{
		Tags: []string{ref}, Remove: true, ForceRemove: true, Version: build.BuilderV1,
	})
	if err != nil {
		return "", d.wrap(err, "build image "+ref)
	}
	defer resp.Body.Close()
	// The build reports failure in its JSON message stream, not its status.
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct{ Error string }
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("build image %s: read output: %w", ref, err)
		}
		if msg.Error != "" {
			return "", fmt.Errorf("build image %s: %s", ref, msg.Error)
		}
	}
	d.logger.Info("image built", "image", ref)
	return ref, nil
}
