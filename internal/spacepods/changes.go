package spacepods

import "sync"

// Changes is an in-process broadcast of "something changed", so that live
// views (the UI's event streams) wait for news instead of polling the
// store. Writers call Signal with the environment a write touched ("" when
// it may touch any: apps, builds); watchers Watch an environment. A
// generation counter counts the signals, for tests and metrics.
//
// It only knows about writes made by this process: watchers still look
// now and then for writes by other servers sharing the store.
type Changes struct {
	mu     sync.Mutex
	gen    uint64
	topics map[string]chan struct{} // environment → closed at its next change
}

// SessionsTopic is signalled when a session or a token is revoked, so that
// open streams can end those of a session that ended. (No environment name
// has a NUL.)
const SessionsTopic = "\x00sessions"

// NewChanges returns a broadcaster with no watchers.
func NewChanges() *Changes {
	return &Changes{topics: map[string]chan struct{}{}}
}

// Signal wakes the watchers of env, or every watcher when env is "".
func (c *Changes) Signal(env string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if env == "" {
		for k, ch := range c.topics {
			close(ch)
			delete(c.topics, k)
		}
		return
	}
	if ch, ok := c.topics[env]; ok {
		close(ch)
		delete(c.topics, env)
	}
}

// Watch returns a channel closed at the next change of env (or of
// everything). Take it before reading the state it guards, so that a change
// made during the read is not missed.
func (c *Changes) Watch(env string) <-chan struct{} {
	if c == nil {
		return nil // a nil channel never fires: callers fall back to polling
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.topics[env]
	if !ok {
		ch = make(chan struct{})
		c.topics[env] = ch
	}
	return ch
}

// Generation counts the signals so far.
func (c *Changes) Generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}
