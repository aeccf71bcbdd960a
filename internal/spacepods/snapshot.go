package spacepods

import "time"

// Snapshot is a frozen copy of an environment's database kept as a template
// database, from which new databases are cloned. Its JSON field names are
// the Go names (the API has always sent them so).
type Snapshot struct {
	Name       string // DNS-label-like name given by the user
	Database   string // the template database holding it
	Env        string // source environment
	App        string // source app
	CreatedAt  time.Time
	SizeBytes  int64
	Incomplete bool // left half-made by an interrupted snapshot; drop it
	// Kind is where it lives: SnapshotPostgres (a template database on
	// the PostgreSQL server of pod databases) or SnapshotRDS (an RDS DB
	// snapshot of a master's instance, Database naming it).
	Kind string
}

// Snapshot kinds.
const (
	SnapshotPostgres = "postgres"
	SnapshotRDS      = "rds"
)

// CreateSnapshotRequest takes a snapshot of an environment's database.
type CreateSnapshotRequest struct {
	Env  string `json:"env"`
	App  string `json:"app"`
	Name string `json:"name"`
}
