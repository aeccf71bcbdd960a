package deploy

import (
	"context"
	"errors"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

func (e *Engine) now() *time.Time {
	t := time.Now().UTC()
	if e.Now != nil {
		t = e.Now()
	}
	return &t
}

// persistError is progress of a deploy that the store did not take. The
// deploy must not go on unrecorded: it stops where it is, as if the control
// plane had been killed there, and its worker recovers it (rolls it back,
// or completes it once its release was recorded live) as soon as the store
// answers again.
type persistError struct{ err error }

func (p *persistError) Error() string { return "record the deploy's progress: " + p.err.Error() }

func (p *persistError) Unwrap() error { return p.err }

// isPersist reports whether err is store trouble (see stored).
func isPersist(err error) bool {
	var p *persistError
	return errors.As(err, &p)
}

// stored marks an error from the store as store trouble, unless it is an
// answer of the domain (ENOTFOUND, ECONFLICT…) or the end of ctx: a read or
// write that failed says nothing about the deploy, so the deploy stops and
// is resumed rather than failed.
func stored(err error) error {
	var se *spacepods.Error
	if err == nil || errors.As(err, &se) || isPersist(err) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &persistError{err: err}
}

// unsaved is what this process knows of a deploy whose progress the store
// did not take (for its recovery).
type unsaved struct {
	err string           // the store's error
	d   spacepods.Deploy // the deploy when it stopped
}

// interrupt stops a deploy whose progress the store did not take: it is
// left to recoverDeploy, which its worker runs once the store answers.
func (e *Engine) interrupt(d *spacepods.Deploy, err error) error {
	e.Logger.Error("the store did not take a deploy's progress: it stops here and is recovered once the store answers",
		"deploy", d.ID, "env", d.Env, "app", d.App, "step", d.Step, "err", err)
	e.mu.Lock()
	if e.unsaved == nil {
		e.unsaved = map[int64]unsaved{}
	}
	why := err.Error()
	var p *persistError
	if errors.As(err, &p) {
		why = p.err.Error()
	}
	e.unsaved[d.ID] = unsaved{err: why, d: *d}
	e.mu.Unlock()
	return err
}

// save writes a deploy's state; a persistError if the store fails.
func (e *Engine) save(ctx context.Context, d *spacepods.Deploy) error {
	if err := e.Store.SaveDeploy(context.WithoutCancel(ctx), *d); err != nil {
		if isPersist(err) {
			return err
		}
		return &persistError{err: err}
	}
	if d.Done() {
		e.signalEnd()
	}
	return nil
}

// endSignal returns a channel closed when the next deploy this process
// runs ends (is saved done), so that WaitDeploy answers at once rather than
// at its next poll.
func (e *Engine) endSignal() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ended == nil {
		e.ended = make(chan struct{})
	}
	return e.ended
}

// signalEnd wakes every WaitDeploy of this process to look again.
func (e *Engine) signalEnd() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ended != nil {
		close(e.ended)
		e.ended = nil
	}
}

// markStep changes a step of d in memory (see setStep).
func (e *Engine) markStep(d *spacepods.Deploy, name, status, detail string) {
	for i := range d.Steps {
		if d.Steps[i].Name != name {
			continue
		}
		s := &d.Steps[i]
		s.Status = status
		if detail != "" {
			s.Detail = detail
		}
		switch status {
		case "running":
			s.StartedAt = e.now()
		case "done", "failed", "skipped":
			if s.StartedAt == nil {
				s.StartedAt = e.now()
			}
			s.EndedAt = e.now()
		}
	}
	if status == "running" {
		d.Step = name
	}
}

// setStep changes a step of d and saves d: a persistError if the store did
// not take it, after which the deploy must stop.
func (e *Engine) setStep(ctx context.Context, d *spacepods.Deploy, name, status, detail string) error {
	e.markStep(d, name, status, detail)
	return e.save(ctx, d)
}
