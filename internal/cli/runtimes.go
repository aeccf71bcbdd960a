package cli

// The runtime drivers this server offers, all listed here: each registers
// its ID and factory with runtime.Register in its package's init, and
// --runtime picks one by ID (runtime.Open). A new driver is one more line.
import (
	_ "github.com/spacepods/spacepods/internal/runtime/docker"
	_ "github.com/spacepods/spacepods/internal/runtime/ecs"
	_ "github.com/spacepods/spacepods/internal/runtime/kubernetes"
)
