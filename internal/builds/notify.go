package builds

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Envelope is a registry notification: distribution's
// application/vnd.docker.distribution.events.v1+json, also sent by Harbor
// and others that speak it. Only the fields Spacepods reads are here.
type Envelope struct {
	Events []Event `json:"events"`
}

// Event is one registry event of an Envelope.
type Event struct {
	ID     string `json:"id"`
	Action string `json:"action"` // push, pull, delete, mount
	Target struct {
		MediaType  string `json:"mediaType"`
		Repository string `json:"repository"`
		Digest     string `json:"digest"`
		Tag        string `json:"tag"`
		URL        string `json:"url"`
	} `json:"target"`
	Request struct {
		Host string `json:"host"`
	} `json:"request"`
}

// TagPush is a push of a manifest under a tag: the one kind of event that
// makes a build.
type TagPush struct {
	EventID    string
	Repository string
	Tag        string
	Digest     string
	// Host is the registry host the pusher named (request.host).
	Host string
}

// manifestTypes are the media types of image manifests and indexes: a push
// of anything else (a layer, a config blob) is not a build.
var manifestTypes = map[string]bool{
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
	"application/vnd.oci.image.manifest.v1+json":                true,
	"application/vnd.oci.image.index.v1+json":                   true,
}

// ParseEnvelope reads a notification body and returns its tag pushes, and
// how many events it ignored: pulls and other actions, blob and layer
// pushes, manifests pushed by digest only. EINVALID for a body that is not
// an envelope, or a tag push without the ID, repository or digest every
// registry sends (it could not be told apart from a retry).
func ParseEnvelope(body []byte) (pushes []TagPush, ignored int, err error) {
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, 0, spacepods.Errorf(spacepods.EINVALID, "not a registry notification envelope (%v): the registry must send application/vnd.docker.distribution.events.v1+json", err)
	}
	if env.Events == nil {
		return nil, 0, spacepods.Errorf(spacepods.EINVALID, "not a registry notification envelope: no events list")
	}
	for i, ev := range env.Events {
		t := ev.Target
		if ev.Action != "push" || t.Tag == "" || !manifestTypes[strings.TrimSpace(t.MediaType)] {
			ignored++
			continue
		}
		switch {
		case ev.ID == "":
			return nil, 0, spacepods.Errorf(spacepods.EINVALID, "event %d (push of %s:%s) has no id", i, t.Repository, t.Tag)
		case t.Repository == "":
			return nil, 0, spacepods.Errorf(spacepods.EINVALID, "event %s (push of tag %s) has no target.repository", ev.ID, t.Tag)
		case !spacepods.ValidDigest(t.Digest):
			return nil, 0, spacepods.Errorf(spacepods.EINVALID, "event %s (push of %s:%s) has no sha256 target.digest (got %q)", ev.ID, t.Repository, t.Tag, t.Digest)
		}
		pushes = append(pushes, TagPush{EventID: ev.ID, Repository: t.Repository, Tag: t.Tag, Digest: t.Digest, Host: ev.Request.Host})
	}
	return pushes, ignored, nil
}

// String names the push for messages: repository:tag@digest.
func (p TagPush) String() string {
	return fmt.Sprintf("%s:%s@%s", p.Repository, p.Tag, p.Digest)
}
