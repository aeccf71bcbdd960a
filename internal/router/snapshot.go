package router

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/spacepods/spacepods/internal/statefile"
)

// snapshot is the route table as written to disk: the declared state only
// (health and counters are rebuilt at run time).
type snapshot struct {
	Version      int               `json:"version"`
	Environments []string          `json:"environments"`
	Subnets      map[string]string `json:"subnets,omitempty"` // environment → its containers' subnet
	Groups       []snapshotGroup   `json:"groups"`
}

type snapshotGroup struct {
	Environment string       `json:"environment"`
	App         string       `json:"app"`
	HealthPath  string       `json:"health_path"`
	Targets     []TargetSpec `json:"targets"`
	Asleep      bool         `json:"asleep,omitempty"`
}

const snapshotFormat = 1

// pendingSnapshot is a route table ready to be written, numbered so that an
// older table never overwrites a newer one.
type pendingSnapshot struct {
	version uint64
	data    []byte
}

// changedLocked records a change of the route table and returns it encoded.
// Caller holds r.mu for writing.
func (r *Router) changedLocked() pendingSnapshot {
	r.version++
	if r.opts.SnapshotPath == "" {
		return pendingSnapshot{version: r.version}
	}
	s := snapshot{Version: snapshotFormat, Environments: []string{}, Groups: []snapshotGroup{}}
	for e := range r.envs {
		s.Environments = append(s.Environments, e)
	}
	slices.Sort(s.Environments)
	for e, p := range r.nets {
		if s.Subnets == nil {
			s.Subnets = map[string]string{}
		}
		s.Subnets[e] = p.String()
	}
	for _, g := range r.groups {
		sg := snapshotGroup{Environment: g.env, App: g.app, HealthPath: g.healthPath, Targets: []TargetSpec{}, Asleep: g.asleep}
		for _, t := range g.live {
			sg.Targets = append(sg.Targets, TargetSpec{Addr: t.addr, Weight: t.weight})
		}
		s.Groups = append(s.Groups, sg)
	}
	slices.SortFunc(s.Groups, func(a, b snapshotGroup) int {
		return cmp.Or(cmp.Compare(a.Environment, b.Environment), cmp.Compare(a.App, b.App))
	})
	data, _ := json.MarshalIndent(s, "", "  ") // plain data: cannot fail
	return pendingSnapshot{version: r.version, data: append(data, '\n')}
}

// persist writes a snapshot unless a newer one was written already.
func (r *Router) persist(s pendingSnapshot) error {
	if r.opts.SnapshotPath == "" {
		return nil
	}
	r.snapMu.Lock()
	defer r.snapMu.Unlock()
	if s.version <= r.snapVersion {
		return nil
	}
	if err := statefile.WriteAtomic(r.opts.SnapshotPath, s.data, 0o600); err != nil {
		r.log.Error("write route snapshot", "path", r.opts.SnapshotPath, "err", err)
		return fmt.Errorf("write route snapshot: %w", err)
	}
	r.snapVersion = s.version
	return nil
}

// restore loads the snapshot at opts.SnapshotPath. A missing file is an empty
// table. A file that cannot be read as a snapshot is moved aside and the
// router starts empty: routing nothing until the control plane re-syncs beats
// not starting at all.
func (r *Router) restore() error {
	path := r.opts.SnapshotPath
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read route snapshot: %w", err)
	}
	var s snapshot
	err = json.Unmarshal(data, &s)
	if err == nil && s.Version != snapshotFormat {
		err = fmt.Errorf("unknown snapshot version %d", s.Version)
	}
	if err == nil {
		err = s.validate()
	}
	if err != nil {
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
		_ = os.Rename(path, aside)
		r.log.Error("route snapshot unreadable; starting with an empty table until the control plane re-syncs",
			"path", path, "moved_to", aside, "err", err)
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range s.Environments {
		r.envs[e] = true
		if p, ok, _ := parseSubnet(s.Subnets[e]); ok {
			r.nets[e] = p
		}
	}
	for _, g := range s.Groups {
		r.setGroupLocked(g.Environment, g.App, GroupSpec{HealthPath: g.HealthPath, Targets: g.Targets, Asleep: g.Asleep})
	}
	r.version++
	r.snapVersion = r.version
	r.log.Info("route table restored", "path", path, "environments", len(s.Environments), "groups", len(s.Groups))
	return nil
}

func (s snapshot) validate() error {
	for _, e := range s.Environments {
		if err := validateNames(e, "x"); err != nil {
			return err
		}
		if _, _, err := parseSubnet(s.Subnets[e]); err != nil {
			return fmt.Errorf("environment %s: subnet: %w", e, err)
		}
	}
	for _, g := range s.Groups {
		if err := validateNames(g.Environment, g.App); err != nil {
			return err
		}
		if err := (GroupSpec{HealthPath: g.HealthPath, Targets: g.Targets}).Validate(); err != nil {
			return fmt.Errorf("group %s/%s: %w", g.Environment, g.App, err)
		}
	}
	return nil
}
