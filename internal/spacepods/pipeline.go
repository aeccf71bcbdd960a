package spacepods

import (
	"fmt"
	"strings"
	"time"
)

// PipelineStage is one stage of an app's pipeline: a master environment the
// run deploys to, in order.
type PipelineStage struct {
	Env string `json:"env" yaml:"env"`
	// Tests runs the Gatekeeper suites of the app and of its dependents in
	// Env after the deploy (nil = on).
	Tests *bool `json:"tests,omitempty" yaml:"tests"`
	// Approval makes the run wait for someone to approve entering the
	// stage (off by default: merges reach production by themselves).
	Approval bool `json:"approval,omitempty" yaml:"approval"`
	// ApprovalTimeout rejects a run still waiting after it (a duration;
	// "" = waits until someone decides).
	ApprovalTimeout string `json:"approval_timeout,omitempty" yaml:"approval_timeout"`
	// OnFailure is what a stage whose tests fail does: rollback (default:
	// the previous release comes back) or hold (the failing release stays
	// for inspection).
	OnFailure string `json:"on_failure,omitempty" yaml:"on_failure"`
}

// On-failure policies of a stage.
const (
	OnFailureRollback = "rollback"
	OnFailureHold     = "hold"
)

// RunsTests reports whether the stage runs tests after its deploy.
func (s PipelineStage) RunsTests() bool { return s.Tests == nil || *s.Tests }

// Policy is OnFailure with its default.
func (s PipelineStage) Policy() string {
	if s.OnFailure == "" {
		return OnFailureRollback
	}
	return s.OnFailure
}

// Timeout parses ApprovalTimeout (0 = none).
func (s PipelineStage) Timeout() (time.Duration, error) {
	if s.ApprovalTimeout == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s.ApprovalTimeout)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("%q is not a duration of 1s or more: write e.g. approval_timeout: 4h", s.ApprovalTimeout)
	}
	return d, nil
}

// validatePipeline checks an app's pipeline: known policies, no
// environment twice, timeouts only with an approval.
func validatePipeline(stages []PipelineStage, add func(field, format string, args ...any)) {
	seen := map[string]bool{}
	for i, s := range stages {
		f := fmt.Sprintf("pipeline[%d]", i)
		switch {
		case s.Env == "":
			add(f+".env", "env is required: the master environment of this stage, e.g. env: staging")
		case ValidateEnvName(s.Env) != nil:
			add(f+".env", "%q is not an environment name: use the name of a master environment, e.g. staging", s.Env)
		case seen[s.Env]:
			add(f+".env", "%s is listed twice: a pipeline goes through each environment once", s.Env)
		}
		seen[s.Env] = true
		if s.OnFailure != "" && s.OnFailure != OnFailureRollback && s.OnFailure != OnFailureHold {
			add(f+".on_failure", "%q is not a policy: write rollback (the previous release comes back) or hold (the failing release stays for inspection)", s.OnFailure)
		}
		if _, err := s.Timeout(); err != nil {
			add(f+".approval_timeout", "%v", err)
		} else if s.ApprovalTimeout != "" && !s.Approval {
			add(f+".approval_timeout", "there is no approval to time out: add approval: true, or remove approval_timeout")
		}
	}
}

// ParsePipeline reads a server-wide default pipeline: environment names
// separated by commas, each optionally followed by flags after colons:
// "qa,staging,production:approval" (flags: approval, notests, hold).
func ParsePipeline(s string) ([]PipelineStage, error) {
	var out []PipelineStage
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		fields := strings.Split(strings.TrimSpace(part), ":")
		st := PipelineStage{Env: fields[0]}
		for _, flag := range fields[1:] {
			switch flag {
			case "approval":
				st.Approval = true
			case "notests":
				off := false
				st.Tests = &off
			case "hold":
				st.OnFailure = OnFailureHold
			default:
				return nil, Errorf(EINVALID, "pipeline stage %q: unknown flag %q: flags are approval, notests and hold (e.g. qa,staging,production:approval)", part, flag)
			}
		}
		out = append(out, st)
	}
	var errs []string
	validatePipeline(out, func(field, format string, args ...any) { errs = append(errs, field+": "+fmt.Sprintf(format, args...)) })
	if len(errs) > 0 {
		return nil, Errorf(EINVALID, "pipeline %q: %s", s, strings.Join(errs, "; "))
	}
	return out, nil
}

// Pipeline run statuses.
const (
	RunQueued     = "queued"     // waits for an earlier run of the app
	RunRunning    = "running"    // deploying or testing a stage
	RunWaiting    = "waiting"    // at an approval gate
	RunCompleted  = "completed"  // every stage passed
	RunFailed     = "failed"     // a deploy or the tests of a stage failed
	RunRejected   = "rejected"   // someone (or the timeout) rejected a gate
	RunSuperseded = "superseded" // a newer build's run replaced it
)

// Stage statuses of a run.
const (
	StagePending   = "pending"
	StageWaiting   = "waiting" // for approval
	StageDeploying = "deploying"
	StageTesting   = "testing"
	StagePassed    = "passed"
	StageFailed    = "failed"
	StageRejected  = "rejected"
	StageSkipped   = "skipped" // the run ended before it
)

// PipelineRun is one build moving through an app's pipeline.
type PipelineRun struct {
	ID     int64      `json:"id"`
	App    string     `json:"app"`
	Build  int        `json:"build"`
	GitSHA string     `json:"git_sha"`
	Status string     `json:"status"`
	Stage  int        `json:"stage"` // index of the current stage
	Stages []RunStage `json:"stages"`
	Error  string     `json:"error,omitempty"`
	// Cause is what started the run: "build" (a new build on the main
	// branch) or "manual" (pipeline start).
	Cause     string     `json:"cause"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
}

// Done reports whether the run has ended.
func (r PipelineRun) Done() bool {
	switch r.Status {
	case RunCompleted, RunFailed, RunRejected, RunSuperseded:
		return true
	}
	return false
}

// RunStage is a stage of a run: its policy (copied when the run starts, so
// that a manifest change does not alter a run under way) and what happened.
type RunStage struct {
	PipelineStage
	Status   string  `json:"status"`
	DeployID int64   `json:"deploy_id,omitempty"`
	TestRuns []int64 `json:"test_runs,omitempty"`
	// RollbackDeployID is the deploy that brought the previous release back
	// after the stage's tests failed (on_failure: rollback).
	RollbackDeployID int64      `json:"rollback_deploy_id,omitempty"`
	Tries            int        `json:"tries,omitempty"` // deploys started (a restart may cost one more)
	TestTries        int        `json:"test_tries,omitempty"`
	Approved         bool       `json:"approved,omitempty"`
	DecidedBy        string     `json:"decided_by,omitempty"`
	DecidedAt        *time.Time `json:"decided_at,omitempty"`
	WaitingSince     *time.Time `json:"waiting_since,omitempty"`
	StartedAt        *time.Time `json:"started_at,omitempty"`
	EndedAt          *time.Time `json:"ended_at,omitempty"`
	Error            string     `json:"error,omitempty"`
}

// StartPipelineRunRequest starts a run of a build by hand.
type StartPipelineRunRequest struct {
	Build int `json:"build"`
}

// PipelineDecisionRequest approves or rejects a run's gate, with an
// optional comment kept in the audit log.
type PipelineDecisionRequest struct {
	Comment string `json:"comment,omitempty"`
}

// PipelineView is an app's pipeline, where it comes from, and its latest
// runs.
type PipelineView struct {
	App    string          `json:"app"`
	Source string          `json:"source"` // manifest, default, or "" (none)
	Stages []PipelineStage `json:"stages"`
	Runs   []PipelineRun   `json:"runs"` // newest first
}
