package spacepods

import "time"

// SleepSettings are a pod's sleep settings (store: pod_sleep).
type SleepSettings struct {
	// IdleTimeout is how long the pod's apps may go without a request
	// before they sleep; 0 = the server's default (--idle-timeout).
	IdleTimeout time.Duration `json:"-"`
	// KeepAwake: the pod never sleeps.
	KeepAwake bool `json:"keep_awake,omitempty"`
}

// AppSleep is an app put to sleep: its service containers of Release are
// stopped (store: app_sleep).
type AppSleep struct {
	Env     string    `json:"env"`
	App     string    `json:"app"`
	Release int       `json:"release"`
	Since   time.Time `json:"since"`
	Reason  string    `json:"reason,omitempty"` // e.g. "idle 30m", "by alice"
}

// PodSleep is what `pod list` and `pod show` say of a pod's sleep.
type PodSleep struct {
	// State is "awake", "asleep" (every app that can sleep is) or
	// "partly asleep".
	State string `json:"state"`
	// IdleTimeout is the timeout in force ("off" when the pod never
	// sleeps), e.g. "30m0s".
	IdleTimeout string    `json:"idle_timeout"`
	KeepAwake   bool      `json:"keep_awake,omitempty"`
	Asleep      []string  `json:"asleep,omitempty"` // the apps asleep
	Since       time.Time `json:"since,omitzero"`   // when the latest of them fell asleep
}

// Sleep states of PodSleep.State.
const (
	SleepAwake  = "awake"
	SleepAsleep = "asleep"
	SleepPartly = "partly asleep"
)

// SleepPodRequest is the body of POST /api/v1/pods/{name}/sleep.
type SleepPodRequest struct {
	App string `json:"app,omitempty"` // one web app; empty = every web app of the pod
}
