package deploy

import "context"

// Images pins releases to immutable images and makes them ready to run;
// builds.Pinner implements it. The engine owns the interface so that it
// imports no registry client.
type Images interface {
	// Pin returns the reference a new release of a build's image runs: a
	// digest or an image ID, never a tag that a later push could move.
	// digest is the one recorded with the build ("" when CI recorded it by
	// hand): a build's image never changes once recorded. warn reports
	// an image left unpinned or pinned another way, for the deploy's
	// events.
	Pin(ctx context.Context, image, digest string, warn func(string)) (string, error)
	// Ready makes sure a pinned image is on the runtime (pulls it),
	// reporting progress lines.
	Ready(ctx context.Context, pinned string, progress func(string)) error
}
