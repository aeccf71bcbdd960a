package server

import (
	"net/http"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// route is one API endpoint. The route table drives the mux, the role
// checks, the OpenAPI document and the route × role test, so they cannot
// disagree.
type route struct {
	Method   string
	Path     string // Go ServeMux pattern path, e.g. /api/v1/apps/{name}
	Role     string // least role allowed; "" = no token needed
	Summary  string
	Tag      string
	Query    []string // documented query parameters
	Request  any      // zero value of the JSON body type, nil = no body
	Response any      // zero value of the JSON response type
	Status   int      // success status
	Runtime  bool     // needs pods and deploys (a server with --runtime none answers 503)
	Handle   func(w http.ResponseWriter, r *http.Request) error
}

// Health is the /healthz body.
type Health struct {
	Status  string `json:"status"`
	Version string `json:"version"`
	Store   string `json:"store"`
	// Where environments run: docker, kubernetes or none, how app hosts
	// are routed (router or ingress), and the ID every runtime object and
	// database of this installation carries.
	Runtime      string `json:"runtime,omitempty"`
	Routing      string `json:"routing,omitempty"`
	Installation string `json:"installation,omitempty"`
}

func (s *Server) routes() []route {
	return []route{
		{Method: "GET", Path: "/api/v1/whoami", Role: spacepods.RoleViewer, Tag: "auth", Summary: "The caller's token (name and role)", Response: spacepods.Token{}, Handle: s.whoami},

		{Method: "POST", Path: "/api/v1/apps", Role: spacepods.RoleDeveloper, Tag: "apps", Summary: "Register an app from its manifest, or update it (history kept)", Request: spacepods.RegisterAppRequest{}, Response: spacepods.RegisterAppResponse{}, Status: 201, Handle: s.registerApp},
		{Method: "GET", Path: "/api/v1/apps", Role: spacepods.RoleViewer, Tag: "apps", Summary: "List apps by name, a page at a time", Query: []string{"after", "limit"}, Response: []spacepods.App{}, Handle: s.listApps},
		{Method: "GET", Path: "/api/v1/apps/{name}", Role: spacepods.RoleViewer, Tag: "apps", Summary: "Show an app's current manifest", Response: spacepods.App{}, Handle: s.getApp},
		{Method: "GET", Path: "/api/v1/apps/{name}/versions", Role: spacepods.RoleViewer, Tag: "apps", Summary: "An app's registration history, newest first", Response: []spacepods.AppVersion{}, Handle: s.appVersions},
		{Method: "GET", Path: "/api/v1/apps/{name}/deps", Role: spacepods.RoleViewer, Tag: "apps", Summary: "An app's dependency tree and closure in start order", Response: spacepods.AppDeps{}, Handle: s.appDeps},

		{Method: "POST", Path: "/api/v1/apps/{name}/builds", Role: spacepods.RoleDeveloper, Tag: "builds", Summary: "Record a build (CI calls this)", Request: spacepods.Build{}, Response: spacepods.Build{}, Status: 201, Handle: s.recordBuild},
		{Method: "GET", Path: "/api/v1/apps/{name}/builds", Role: spacepods.RoleViewer, Tag: "builds", Summary: "List an app's builds, newest first", Query: []string{"branch", "limit"}, Response: []spacepods.Build{}, Handle: s.listBuilds},
		{Method: "GET", Path: "/api/v1/apps/{name}/builds/latest", Role: spacepods.RoleViewer, Tag: "builds", Summary: "The latest build of a branch (default: main)", Query: []string{"branch"}, Response: spacepods.Build{}, Handle: s.latestBuild},
		{Method: "GET", Path: "/api/v1/apps/{name}/builds/{number}", Role: spacepods.RoleViewer, Tag: "builds", Summary: "Show one build", Response: spacepods.Build{}, Handle: s.getBuild},

		{Method: "POST", Path: "/api/v1/hooks/registry", Tag: "builds", Summary: "Registry push notifications (distribution's event envelope; 'Authorization: Bearer <notification token>', not an API token): a push of a tag records a build, or a rejected event with its reason; pulls and non-tag events are ignored; retried deliveries change nothing", Response: spacepods.RegistryHookResult{}, Handle: s.registryHook},
		{Method: "GET", Path: "/api/v1/registry/events", Role: spacepods.RoleViewer, Tag: "builds", Summary: "Tag pushes registries notified, newest first: the build each recorded, or why none", Query: []string{"status", "limit"}, Response: []spacepods.RegistryEvent{}, Handle: s.registryEvents},
		{Method: "POST", Path: "/api/v1/apps/{name}/builds/run", Role: spacepods.RoleDeveloper, Tag: "builds", Summary: "Build an app's image from its git repository at a ref (the built-in builder: queued; follow the job's log)", Request: spacepods.RunBuildRequest{}, Response: spacepods.BuildJob{}, Status: 202, Handle: s.runBuild},
		{Method: "GET", Path: "/api/v1/apps/{name}/builds/jobs", Role: spacepods.RoleViewer, Tag: "builds", Summary: "List an app's build jobs (built-in builder), newest first", Query: []string{"limit"}, Response: []spacepods.BuildJob{}, Handle: s.listBuildJobs},
		{Method: "GET", Path: "/api/v1/build-jobs/{id}", Role: spacepods.RoleViewer, Tag: "builds", Summary: "Show a build job: status, commit, image, build, queue position (its log only to developers and admins)", Response: spacepods.BuildJob{}, Handle: s.getBuildJob},
		{Method: "GET", Path: "/api/v1/build-jobs/{id}/log", Role: spacepods.RoleDeveloper, Tag: "builds", Summary: "A build job's log (text) from a byte offset; follow=true streams it until the job ends", Query: []string{"follow", "offset"}, Handle: s.buildJobLog},
		{Method: "POST", Path: "/api/v1/build-jobs/{id}/cancel", Role: spacepods.RoleDeveloper, Tag: "builds", Summary: "Cancel a queued or running build job (it records no build)", Response: spacepods.BuildJob{}, Handle: s.cancelBuildJob},

		{Method: "PUT", Path: "/api/v1/apps/{name}/config", Role: spacepods.RoleDeveloper, Tag: "config", Summary: "Set env vars or secrets of an app in a scope (all, pods, env:NAME); secret values are write-only", Request: spacepods.SetConfigRequest{}, Response: []spacepods.ConfigVar{}, Handle: s.setConfig},
		{Method: "GET", Path: "/api/v1/apps/{name}/config", Role: spacepods.RoleViewer, Tag: "config", Summary: "List an app's env vars; secrets as set, with who and when (values only for admins with reveal=true, audited)", Query: []string{"scope", "reveal"}, Response: []spacepods.ConfigVar{}, Handle: s.listConfig},
		{Method: "DELETE", Path: "/api/v1/apps/{name}/config/{key}", Role: spacepods.RoleDeveloper, Tag: "config", Summary: "Unset an env var or secret in a scope", Query: []string{"scope"}, Status: 204, Handle: s.unsetConfig},
		{Method: "GET", Path: "/api/v1/apps/{name}/config/effective", Role: spacepods.RoleViewer, Tag: "config", Summary: "What a deploy of the app to an environment would get (secrets masked)", Query: []string{"env"}, Response: spacepods.EffectiveConfig{}, Runtime: true, Handle: s.effectiveConfig},
		{Method: "POST", Path: "/api/v1/apps/{name}/config/apply", Role: spacepods.RoleDeveloper, Tag: "config", Summary: "Redeploy the running build with the current config", Request: spacepods.ApplyConfigRequest{}, Response: spacepods.Deploy{}, Status: 202, Runtime: true, Handle: s.applyConfig},

		{Method: "POST", Path: "/api/v1/secrets/rotate-key", Role: spacepods.RoleAdmin, Tag: "config", Summary: "Re-wrap every secret's data key under a new master key (local secret store)", Response: spacepods.KeyRotation{}, Handle: s.rotateKey},

		{Method: "POST", Path: "/api/v1/tokens", Role: spacepods.RoleAdmin, Tag: "auth", Summary: "Create an API token (its secret is shown once)", Request: spacepods.CreateTokenRequest{}, Response: spacepods.CreateTokenResponse{}, Status: 201, Handle: s.createToken},
		{Method: "GET", Path: "/api/v1/tokens", Role: spacepods.RoleAdmin, Tag: "auth", Summary: "List API tokens (never their secrets)", Response: []spacepods.Token{}, Handle: s.listTokens},
		{Method: "DELETE", Path: "/api/v1/tokens/{name}", Role: spacepods.RoleAdmin, Tag: "auth", Summary: "Revoke an API token", Status: 204, Handle: s.revokeToken},

		{Method: "POST", Path: "/api/v1/pods/plan", Role: spacepods.RoleViewer, Tag: "pods", Summary: "Resolve what a pod create would make (apps in start order, builds, databases, URLs)", Request: spacepods.CreatePodRequest{}, Response: spacepods.PodPlan{}, Runtime: true, Handle: s.planPod},
		{Method: "POST", Path: "/api/v1/pods", Role: spacepods.RoleDeveloper, Tag: "pods", Summary: "Create a pod (asynchronous: follow its events)", Request: spacepods.CreatePodRequest{}, Response: spacepods.CreatePodResponse{}, Status: 202, Runtime: true, Handle: s.createPod},
		{Method: "GET", Path: "/api/v1/pods", Role: spacepods.RoleViewer, Tag: "pods", Summary: "List pods", Response: []spacepods.Environment{}, Runtime: true, Handle: s.listEnvs(spacepods.EnvPod)},
		{Method: "GET", Path: "/api/v1/pods/{name}", Role: spacepods.RoleViewer, Tag: "pods", Summary: "Show a pod: status, apps, builds, URLs", Response: spacepods.EnvironmentView{}, Runtime: true, Handle: s.showEnv},
		{Method: "GET", Path: "/api/v1/pods/{name}/events", Role: spacepods.RoleViewer, Tag: "pods", Summary: "A pod's progress lines after an event ID", Query: []string{"after"}, Response: []spacepods.Event{}, Runtime: true, Handle: s.envEvents},
		{Method: "POST", Path: "/api/v1/pods/{name}/update", Role: spacepods.RoleDeveloper, Tag: "pods", Summary: "Wipe a pod's running apps and redeploy them (asynchronous)", Request: spacepods.UpdatePodRequest{}, Response: spacepods.PodPlan{}, Status: 202, Runtime: true, Handle: s.updatePod},
		{Method: "POST", Path: "/api/v1/pods/{name}/extend", Role: spacepods.RoleDeveloper, Tag: "pods", Summary: "Set a pod's expiry to now + ttl", Request: spacepods.ExtendPodRequest{}, Response: spacepods.Environment{}, Runtime: true, Handle: s.extendPod},
		{Method: "POST", Path: "/api/v1/pods/{name}/sleep", Role: spacepods.RoleDeveloper, Tag: "pods", Summary: "Put a pod's web apps (or one, app) to sleep now: their containers stop; the first request to one wakes it", Request: spacepods.SleepPodRequest{}, Response: spacepods.EnvironmentView{}, Runtime: true, Handle: s.sleepPod},
		{Method: "POST", Path: "/api/v1/pods/{name}/wake", Role: spacepods.RoleDeveloper, Tag: "pods", Summary: "Wake a pod's asleep apps now; answers once they are healthy and routed", Response: spacepods.EnvironmentView{}, Runtime: true, Handle: s.wakePod},
		{Method: "DELETE", Path: "/api/v1/pods/{name}", Role: spacepods.RoleDeveloper, Tag: "pods", Summary: "Destroy a pod (asynchronous)", Status: 202, Runtime: true, Handle: s.destroyEnv},
		{Method: "GET", Path: "/api/v1/pods/{name}/apps/{app}/logs", Role: spacepods.RoleDeveloper, Tag: "pods", Summary: "An app's logs in a pod or environment (text; follow=true streams); developers and admins only: logs often carry connection strings", Query: []string{"follow", "tail"}, Runtime: true, Handle: s.appLogs},

		{Method: "POST", Path: "/api/v1/environments", Role: spacepods.RoleAdmin, Tag: "environments", Summary: "Create a master environment", Request: spacepods.CreateEnvironmentRequest{}, Response: spacepods.Environment{}, Status: 201, Runtime: true, Handle: s.createEnv},
		{Method: "GET", Path: "/api/v1/environments", Role: spacepods.RoleViewer, Tag: "environments", Summary: "List master environments", Response: []spacepods.Environment{}, Runtime: true, Handle: s.listEnvs(spacepods.EnvMaster)},
		{Method: "GET", Path: "/api/v1/environments/{name}", Role: spacepods.RoleViewer, Tag: "environments", Summary: "Show an environment and what runs there", Response: spacepods.EnvironmentView{}, Runtime: true, Handle: s.showEnv},

		{Method: "POST", Path: "/api/v1/deploys", Role: spacepods.RoleDeveloper, Tag: "deploys", Summary: "Deploy a build to a master environment (queued; one at a time per environment and app); in a protected environment a change to what runs needs confirm_manifest_version (admins), else 409 with the plan", Request: spacepods.DeployRequest{}, Response: spacepods.Deploy{}, Status: 202, Runtime: true, Handle: s.createDeploy},
		{Method: "POST", Path: "/api/v1/deploys/plan", Role: spacepods.RoleViewer, Tag: "deploys", Summary: "What a deploy would change: manifest fields that differ from the live release, who registered them, and whether an admin must confirm (protected environments)", Request: spacepods.DeployRequest{}, Response: spacepods.DeployPlan{}, Runtime: true, Handle: s.planDeploy},
		{Method: "GET", Path: "/api/v1/deploys", Role: spacepods.RoleViewer, Tag: "deploys", Summary: "List deploys, newest first", Query: []string{"env", "app", "limit"}, Response: []spacepods.Deploy{}, Runtime: true, Handle: s.listDeploys},
		{Method: "GET", Path: "/api/v1/deploys/{id}", Role: spacepods.RoleViewer, Tag: "deploys", Summary: "Show a deploy with its five steps (its failure output only to developers and admins)", Response: spacepods.Deploy{}, Runtime: true, Handle: s.getDeploy},
		{Method: "GET", Path: "/api/v1/deploys/{id}/notes", Role: spacepods.RoleViewer, Tag: "deploys", Summary: "A deploy's release notes from git history: commits, contributors, Jira keys, compare link, links to its logs and tests (format=markdown: text/markdown)", Query: []string{"format"}, Response: spacepods.ReleaseNotes{}, Handle: s.deployNotes},
		{Method: "GET", Path: "/api/v1/deploys/{id}/events", Role: spacepods.RoleViewer, Tag: "deploys", Summary: "A deploy's progress lines after an event ID", Query: []string{"after"}, Response: []spacepods.Event{}, Runtime: true, Handle: s.deployEvents},
		{Method: "POST", Path: "/api/v1/rollback", Role: spacepods.RoleDeveloper, Tag: "deploys", Summary: "Redeploy the previous release of an app in an environment", Request: spacepods.RollbackRequest{}, Response: spacepods.Deploy{}, Status: 202, Runtime: true, Handle: s.rollback},
		{Method: "POST", Path: "/api/v1/promote", Role: spacepods.RoleDeveloper, Tag: "deploys", Summary: "Deploy to one environment exactly the build running in another", Request: spacepods.PromoteRequest{}, Response: spacepods.Deploy{}, Status: 202, Runtime: true, Handle: s.promote},

		{Method: "POST", Path: "/api/v1/envs/{env}/tests", Role: spacepods.RoleDeveloper, Tag: "tests", Summary: "Run the Gatekeeper tests of an app in a ready pod or environment, and of the apps there that depend on it (asynchronous; app omitted: every app that declares tests)", Request: spacepods.RunTestsRequest{}, Response: []spacepods.TestRun{}, Status: 202, Runtime: true, Handle: s.runTests},
		{Method: "GET", Path: "/api/v1/envs/{env}/tests", Role: spacepods.RoleViewer, Tag: "tests", Summary: "List a pod's or environment's test runs, newest first", Query: []string{"app", "limit"}, Response: []spacepods.TestRun{}, Runtime: true, Handle: s.listTests},
		{Method: "GET", Path: "/api/v1/tests/{id}", Role: spacepods.RoleViewer, Tag: "tests", Summary: "Show a test run: status, exit code, duration, last lines", Response: spacepods.TestRun{}, Runtime: true, Handle: s.getTest},
		{Method: "GET", Path: "/api/v1/tests/{id}/log", Role: spacepods.RoleViewer, Tag: "tests", Summary: "A test run's whole kept output (text; protected environments: admins only)", Runtime: true, Handle: s.testLog},

		{Method: "GET", Path: "/api/v1/apps/{name}/pipeline", Role: spacepods.RoleViewer, Tag: "pipelines", Summary: "An app's pipeline (its stages and where they come from) and its latest runs", Query: []string{"limit"}, Response: spacepods.PipelineView{}, Handle: s.showPipeline},
		{Method: "GET", Path: "/api/v1/apps/{name}/pipeline/runs", Role: spacepods.RoleViewer, Tag: "pipelines", Summary: "An app's pipeline runs, newest first", Query: []string{"limit"}, Response: []spacepods.PipelineRun{}, Handle: s.listPipelineRuns},
		{Method: "POST", Path: "/api/v1/apps/{name}/pipeline/runs", Role: spacepods.RoleDeveloper, Tag: "pipelines", Summary: "Start a pipeline run of a build by hand (new main builds start one by themselves)", Request: spacepods.StartPipelineRunRequest{}, Response: spacepods.PipelineRun{}, Status: 201, Handle: s.startPipelineRun},
		{Method: "GET", Path: "/api/v1/pipeline/runs/{id}", Role: spacepods.RoleViewer, Tag: "pipelines", Summary: "Show a pipeline run: its stages, deploys, test runs and approvals", Response: spacepods.PipelineRun{}, Handle: s.getPipelineRun},
		{Method: "POST", Path: "/api/v1/pipeline/runs/{id}/approve", Role: spacepods.RoleDeveloper, Tag: "pipelines", Summary: "Approve the gate a run waits at (protected environments: admins only; audited)", Request: spacepods.PipelineDecisionRequest{}, Response: spacepods.PipelineRun{}, Handle: s.decidePipelineRun(true)},
		{Method: "POST", Path: "/api/v1/pipeline/runs/{id}/reject", Role: spacepods.RoleDeveloper, Tag: "pipelines", Summary: "Reject the gate a run waits at: the run ends (protected environments: admins only; audited)", Request: spacepods.PipelineDecisionRequest{}, Response: spacepods.PipelineRun{}, Handle: s.decidePipelineRun(false)},

		{Method: "POST", Path: "/api/v1/snapshots", Role: spacepods.RoleDeveloper, Tag: "databases", Summary: "Take a named snapshot of an app's database in an environment", Request: spacepods.CreateSnapshotRequest{}, Response: spacepods.Snapshot{}, Status: 201, Runtime: true, Handle: s.createSnapshot},
		{Method: "GET", Path: "/api/v1/snapshots", Role: spacepods.RoleViewer, Tag: "databases", Summary: "List snapshots", Response: []spacepods.Snapshot{}, Runtime: true, Handle: s.listSnapshots},
		{Method: "GET", Path: "/api/v1/leaks", Role: spacepods.RoleAdmin, Tag: "audit", Summary: "Containers, networks, databases and routes that belong to no live environment", Response: []spacepods.Leak{}, Runtime: true, Handle: s.leaks(false)},
		{Method: "POST", Path: "/api/v1/leaks/remove", Role: spacepods.RoleAdmin, Tag: "audit", Summary: "Remove every leak found", Response: []spacepods.Leak{}, Runtime: true, Handle: s.leaks(true)},

		{Method: "POST", Path: "/api/v1/hooks/forge", Tag: "forge", Summary: "A webhook delivery from the code forge (GitHub, Gitea): authenticated by its X-Hub-Signature-256, stored, then processed in the background; 202 when new, 200 for a delivery ID already stored", Response: spacepods.ForgeDelivery{}, Status: 202, Handle: s.forgeHook},
		{Method: "GET", Path: "/api/v1/hooks/forge/deliveries", Role: spacepods.RoleDeveloper, Tag: "forge", Summary: "The forge delivery log, newest first: event, action, repo, state, what it triggered, error", Query: []string{"before", "limit"}, Response: []spacepods.ForgeDelivery{}, Handle: s.listDeliveries},
		{Method: "GET", Path: "/api/v1/hooks/forge/deliveries/{id}", Role: spacepods.RoleDeveloper, Tag: "forge", Summary: "One forge delivery", Response: spacepods.ForgeDelivery{}, Handle: s.getDelivery},

		{Method: "POST", Path: "/api/v1/hooks/slack", Tag: "notifications", Summary: "Slack slash commands and button presses: authenticated by Slack's v0 signature (5-minute window, replays refused), answered at once, the work done in the background and replied through response_url", Handle: s.slackHook},
		{Method: "GET", Path: "/api/v1/notifications/deliveries", Role: spacepods.RoleDeveloper, Tag: "notifications", Summary: "The notification delivery log, newest first: notice kind and key, target, state, attempts, next attempt, last error", Query: []string{"target", "before", "limit"}, Response: []spacepods.NoticeDelivery{}, Handle: s.listNotifications},
		{Method: "GET", Path: "/api/v1/slack/users", Role: spacepods.RoleAdmin, Tag: "notifications", Summary: "Slack users mapped to Spacepods users and roles", Response: []spacepods.SlackUser{}, Handle: s.listSlackUsers},
		{Method: "PUT", Path: "/api/v1/slack/users/{id}", Role: spacepods.RoleAdmin, Tag: "notifications", Summary: "Map a Slack user (ID U…) to a Spacepods user and role", Request: spacepods.LinkSlackUserRequest{}, Response: spacepods.SlackUser{}, Handle: s.putSlackUser},
		{Method: "DELETE", Path: "/api/v1/slack/users/{id}", Role: spacepods.RoleAdmin, Tag: "notifications", Summary: "Unmap a Slack user", Status: 204, Handle: s.deleteSlackUser},

		{Method: "GET", Path: "/api/v1/audit", Role: spacepods.RoleAdmin, Tag: "audit", Summary: "The audit log, newest first", Query: []string{"before", "limit"}, Response: []spacepods.AuditEntry{}, Handle: s.listAudit},
	}
}
