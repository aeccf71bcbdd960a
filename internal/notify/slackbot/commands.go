package slackbot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/spacepods/spacepods/internal/notify"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Commands is what slash commands do, as the acting user (ctx carries
// them as spacepods.WithActor): each returns the reply's text. Services
// implements it over the pods service and the deploy engine, so the
// rules of the API apply (a developer cannot deploy to a protected
// environment, say).
type Commands interface {
	CreatePod(ctx context.Context, name string, apps []string) (string, error)
	ShowPod(ctx context.Context, name string) (string, error)
	DestroyPod(ctx context.Context, name string) (string, error)
	ExtendPod(ctx context.Context, name, ttl string) (string, error)
	Deploy(ctx context.Context, app, env string, build int) (string, error)
	Promote(ctx context.Context, app, from, to string) (string, error)
	Rollback(ctx context.Context, app, env string) (string, error)
	Status(ctx context.Context, app string) (string, error)
}

// RunEnvironments is an optional ability of an Approver: the environment a
// waiting run's gate guards, so that approving a protected one can be kept
// to admins. Without it, only admins approve from Slack (unless
// developers are allowed to approve protected environments).
type RunEnvironments interface {
	RunEnvironment(ctx context.Context, run int64) (string, error)
}

// Users maps Slack users to Spacepods users.
type Users interface {
	SlackUser(ctx context.Context, slackUser string) (spacepods.SlackUser, error)
}

// ReplayWindow is how old a signed request may be: Slack's own advice.
const ReplayWindow = 5 * time.Minute

// Handler serves POST /api/v1/hooks/slack: slash commands and
// interactive payloads (the approval buttons), both signed by Slack.
type Handler struct {
	SigningSecret string
	Users         Users
	Commands      Commands
	Approver      notify.Approver // nil: approvals answer that no pipeline is configured
	// Protected reports whether an environment is protected.
	Protected func(ctx context.Context, env string) (bool, error)
	// DevelopersMayApproveProtected lets developers approve runs whose
	// gate guards a protected environment.
	DevelopersMayApproveProtected bool
	// Client posts replies to response_url; default a 10 s timeout.
	Client *http.Client
	Logger *slog.Logger

	mu   sync.Mutex
	seen map[string]time.Time // signatures seen within the replay window
	wg   sync.WaitGroup
	base context.Context
}

// Start makes background work live until ctx ends (Wait waits for it).
func (h *Handler) Start(ctx context.Context) {
	h.mu.Lock()
	h.base = ctx
	h.mu.Unlock()
}

// Wait waits for the background work started so far.
func (h *Handler) Wait() { h.wg.Wait() }

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.Default()
	}
	return h.Logger
}

// MaxBody bounds a request body (Slack's payloads are a few kB).
const MaxBody = 1 << 20

// reply is Slack's message JSON for answers and response_url posts.
type reply struct {
	ResponseType    string        `json:"response_type,omitempty"` // ephemeral (default) or in_channel
	Text            string        `json:"text"`
	ReplaceOriginal bool          `json:"replace_original,omitempty"`
	Blocks          []slack.Block `json:"blocks,omitempty"`
}

// ServeHTTP verifies the request, then answers at once: a refusal, or
// "working on it" while the command runs in the background and its result
// goes to response_url.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	if err := h.verify(r.Header, body); err != nil {
		h.logger().Warn("slack request refused", "err", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "not a form body", http.StatusBadRequest)
		return
	}
	if p := form.Get("payload"); p != "" {
		h.interaction(r.Context(), []byte(p))
		w.WriteHeader(http.StatusOK) // an empty 200 acknowledges a button press
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(h.command(r.Context(), form))
}

// verify checks Slack's v0 signature and timestamp, and refuses a
// request already seen (a replay within the window).
func (h *Handler) verify(header http.Header, body []byte) error {
	if h.SigningSecret == "" {
		return errors.New("no Slack signing secret is configured on this server")
	}
	sv, err := slack.NewSecretsVerifier(header, h.SigningSecret)
	if err != nil {
		if errors.Is(err, slack.ErrExpiredTimestamp) {
			return fmt.Errorf("stale request: X-Slack-Request-Timestamp is more than %s away", ReplayWindow)
		}
		return fmt.Errorf("bad or missing X-Slack-Signature / X-Slack-Request-Timestamp: %v", err)
	}
	_, _ = sv.Write(body)
	if err := sv.Ensure(); err != nil {
		return errors.New("bad X-Slack-Signature: check the signing secret")
	}
	sig := header.Get("X-Slack-Signature")
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen = map[string]time.Time{}
	}
	for s, at := range h.seen {
		if now.Sub(at) > 2*ReplayWindow {
			delete(h.seen, s)
		}
	}
	if _, dup := h.seen[sig]; dup {
		return errors.New("replayed request: this signature was already used")
	}
	h.seen[sig] = now
	return nil
}

// actor returns the Spacepods identity of a Slack user, or the polite
// refusal to send them.
func (h *Handler) actor(ctx context.Context, slackUser string) (*spacepods.Token, string) {
	u, err := h.Users.SlackUser(ctx, slackUser)
	if err != nil {
		if spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
			return nil, fmt.Sprintf("Sorry, your Slack account (%s) is not linked to a Spacepods user, so I can't act for you. Ask a Spacepods admin to run `spacepods slack link %s USER`.", slackUser, slackUser)
		}
		h.logger().Error("slack user lookup", "user", slackUser, "err", err)
		return nil, "Sorry, Spacepods could not check who you are just now; try again in a moment."
	}
	return &spacepods.Token{Name: u.Username, Role: u.Role}, ""
}

// minRole is the least role of each command: the API routes' roles.
var minRole = map[string]string{
	"pod create": spacepods.RoleDeveloper, "pod destroy": spacepods.RoleDeveloper, "pod extend": spacepods.RoleDeveloper,
	"pod show": spacepods.RoleViewer, "status": spacepods.RoleViewer,
	"deploy": spacepods.RoleDeveloper, "promote": spacepods.RoleDeveloper, "rollback": spacepods.RoleDeveloper,
	"approve": spacepods.RoleDeveloper, "reject": spacepods.RoleDeveloper,
}

// Usage is the help text of /spacepods.
const Usage = "Usage: `/spacepods pod create NAME --app A[,B]` · `pod show|destroy NAME` · `pod extend NAME [--ttl 4h]` · " +
	"`deploy APP --env E --build N` · `promote APP --from E --to E` · `rollback APP --env E` · `status APP` · `approve RUN` · `reject RUN`"

// job is a parsed command, ready to run.
type job struct {
	name string
	run  func(ctx context.Context) (string, error)
	env  string // the environment it changes, if any
}

func ephemeral(text string) reply { return reply{ResponseType: "ephemeral", Text: text} }

func (h *Handler) command(ctx context.Context, form url.Values) reply {
	tok, refusal := h.actor(ctx, form.Get("user_id"))
	if tok == nil {
		return ephemeral(refusal)
	}
	j, err := h.parse(strings.Fields(form.Get("text")))
	if err != nil {
		return ephemeral(err.Error() + "\n" + Usage)
	}
	if !spacepods.RoleAtLeast(tok.Role, minRole[j.name]) {
		return ephemeral(fmt.Sprintf("Sorry, `%s` needs the %s role; you are a %s in Spacepods.", j.name, minRole[j.name], tok.Role))
	}
	if msg := h.approvalRefusal(ctx, tok, j); msg != "" {
		return ephemeral(msg)
	}
	h.background(form.Get("response_url"), tok, j, false)
	return ephemeral(fmt.Sprintf("Working on `%s` as %s…", strings.TrimSpace(form.Get("command")+" "+form.Get("text")), tok.Name))
}

// background runs j as tok and posts its result to responseURL.
func (h *Handler) background(responseURL string, tok *spacepods.Token, j job, replace bool) {
	h.mu.Lock()
	base := h.base
	h.mu.Unlock()
	if base == nil {
		base = context.Background()
	}
	h.wg.Go(func() {
		ctx, cancel := context.WithTimeout(spacepods.WithActor(base, tok), 2*time.Minute)
		defer cancel()
		text, err := j.run(ctx)
		rep := reply{ResponseType: "in_channel", Text: text, ReplaceOriginal: replace}
		if err != nil {
			rep = reply{ResponseType: "ephemeral", Text: "Sorry, that did not work: " + spacepods.ErrorMessage(err)}
		}
		if err := h.respond(ctx, responseURL, rep); err != nil {
			h.logger().Error("slack response_url", "command", j.name, "err", err)
		}
	})
}

// respond posts a reply to Slack's response_url.
func (h *Handler) respond(ctx context.Context, responseURL string, rep reply) error {
	if responseURL == "" {
		return errors.New("no response_url")
	}
	body, _ := json.Marshal(rep)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	client := h.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("response_url answered %s", resp.Status)
	}
	return nil
}

// approvalRefusal keeps approvals of protected environments to admins
// (unless allowed), as the API keeps deploys there.
func (h *Handler) approvalRefusal(ctx context.Context, tok *spacepods.Token, j job) string {
	if (j.name != "approve" && j.name != "reject") || tok.Role == spacepods.RoleAdmin || h.DevelopersMayApproveProtected {
		return ""
	}
	if h.Approver == nil {
		return "" // answered by the job: no pipeline
	}
	re, ok := h.Approver.(RunEnvironments)
	if !ok || h.Protected == nil {
		return "Sorry, only admins may approve or reject pipeline runs from Slack here."
	}
	run, _ := strconv.ParseInt(j.env, 10, 64)
	env, err := re.RunEnvironment(ctx, run)
	if err != nil {
		return "Sorry: " + spacepods.ErrorMessage(err)
	}
	prot, err := h.Protected(ctx, env)
	if err != nil {
		return "Sorry: " + spacepods.ErrorMessage(err)
	}
	if prot {
		return fmt.Sprintf("Sorry, %s is protected: only admins may approve or reject its deploys.", env)
	}
	return ""
}

// parse turns the words after /spacepods into a job.
func (h *Handler) parse(words []string) (job, error) {
	if len(words) == 0 || words[0] == "help" {
		return job{}, errors.New("tell me what to do")
	}
	pos, flags, err := splitFlags(words)
	if err != nil {
		return job{}, err
	}
	arg := func(i int, what string) (string, error) {
		if i >= len(pos) {
			return "", fmt.Errorf("`%s` needs %s", strings.Join(pos[:min(len(pos), i)], " "), what)
		}
		return pos[i], nil
	}
	c := h.Commands
	switch pos[0] {
	case "pod":
		sub, err := arg(1, "create, show, destroy or extend")
		if err != nil {
			return job{}, err
		}
		name, err := arg(2, "a pod name")
		if err != nil {
			return job{}, err
		}
		switch sub {
		case "create":
			if flags["app"] == "" {
				return job{}, errors.New("`pod create` needs --app APP (comma-separate several)")
			}
			apps := strings.Split(flags["app"], ",")
			return job{name: "pod create", run: func(ctx context.Context) (string, error) { return c.CreatePod(ctx, name, apps) }}, nil
		case "show":
			return job{name: "pod show", run: func(ctx context.Context) (string, error) { return c.ShowPod(ctx, name) }}, nil
		case "destroy":
			return job{name: "pod destroy", run: func(ctx context.Context) (string, error) { return c.DestroyPod(ctx, name) }}, nil
		case "extend":
			ttl := flags["ttl"]
			return job{name: "pod extend", run: func(ctx context.Context) (string, error) { return c.ExtendPod(ctx, name, ttl) }}, nil
		}
		return job{}, fmt.Errorf("unknown pod command %q", sub)
	case "deploy":
		app, err := arg(1, "an app")
		if err != nil {
			return job{}, err
		}
		build, err := strconv.Atoi(flags["build"])
		if err != nil || build < 1 || flags["env"] == "" {
			return job{}, errors.New("`deploy` needs --env ENV and --build N")
		}
		env := flags["env"]
		return job{name: "deploy", env: env, run: func(ctx context.Context) (string, error) { return c.Deploy(ctx, app, env, build) }}, nil
	case "promote":
		app, err := arg(1, "an app")
		if err != nil {
			return job{}, err
		}
		if flags["from"] == "" || flags["to"] == "" {
			return job{}, errors.New("`promote` needs --from ENV and --to ENV")
		}
		from, to := flags["from"], flags["to"]
		return job{name: "promote", env: to, run: func(ctx context.Context) (string, error) { return c.Promote(ctx, app, from, to) }}, nil
	case "rollback":
		app, err := arg(1, "an app")
		if err != nil {
			return job{}, err
		}
		if flags["env"] == "" {
			return job{}, errors.New("`rollback` needs --env ENV")
		}
		env := flags["env"]
		return job{name: "rollback", env: env, run: func(ctx context.Context) (string, error) { return c.Rollback(ctx, app, env) }}, nil
	case "status":
		app, err := arg(1, "an app")
		if err != nil {
			return job{}, err
		}
		return job{name: "status", run: func(ctx context.Context) (string, error) { return c.Status(ctx, app) }}, nil
	case "approve", "reject":
		v, err := arg(1, "a pipeline run number")
		if err != nil {
			return job{}, err
		}
		run, err := strconv.ParseInt(v, 10, 64)
		if err != nil || run < 1 {
			return job{}, fmt.Errorf("%q is not a pipeline run number", v)
		}
		return h.decide(pos[0], run), nil
	}
	return job{}, fmt.Errorf("unknown command %q", pos[0])
}

// decide is the job of approving or rejecting a run.
func (h *Handler) decide(verb string, run int64) job {
	return job{name: verb, env: strconv.FormatInt(run, 10), run: func(ctx context.Context) (string, error) {
		if h.Approver == nil {
			return "", spacepods.Errorf(spacepods.EUNAVAILABLE, "no CD pipeline is configured on this server")
		}
		actor := spacepods.ActorName(ctx)
		if verb == "approve" {
			if err := h.Approver.Approve(ctx, run, actor); err != nil {
				return "", err
			}
			return fmt.Sprintf(":+1: Pipeline run %d approved by %s", run, actor), nil
		}
		if err := h.Approver.Reject(ctx, run, actor); err != nil {
			return "", err
		}
		return fmt.Sprintf(":no_entry: Pipeline run %d rejected by %s", run, actor), nil
	}}
}

// splitFlags separates positional words from --name value (or
// --name=value) flags.
func splitFlags(words []string) ([]string, map[string]string, error) {
	var pos []string
	flags := map[string]string{}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if !strings.HasPrefix(w, "--") {
			pos = append(pos, w)
			continue
		}
		name, val, ok := strings.Cut(strings.TrimPrefix(w, "--"), "=")
		if !ok {
			if i+1 >= len(words) {
				return nil, nil, fmt.Errorf("--%s needs a value", name)
			}
			i++
			val = words[i]
		}
		flags[name] = val
	}
	if len(pos) == 0 {
		return nil, nil, errors.New("tell me what to do")
	}
	return pos, flags, nil
}

// interaction handles a button press (block_actions). Slack ignores the
// answer's body for those: every reply, refusals too, goes to
// response_url.
func (h *Handler) interaction(ctx context.Context, payload []byte) {
	var cb slack.InteractionCallback
	if err := json.Unmarshal(payload, &cb); err != nil {
		h.logger().Warn("slack interaction payload", "err", err)
		return
	}
	if cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) == 0 {
		h.say(cb.ResponseURL, ephemeral("Sorry, Spacepods does not handle that interaction."))
		return
	}
	tok, refusal := h.actor(ctx, cb.User.ID)
	if tok == nil {
		h.say(cb.ResponseURL, ephemeral(refusal))
		return
	}
	a := cb.ActionCallback.BlockActions[0]
	verb := map[string]string{ActionApprove: "approve", ActionReject: "reject"}[a.ActionID]
	run, err := strconv.ParseInt(a.Value, 10, 64)
	if verb == "" || err != nil {
		h.say(cb.ResponseURL, ephemeral("Sorry, Spacepods does not know that button."))
		return
	}
	j := h.decide(verb, run)
	if !spacepods.RoleAtLeast(tok.Role, minRole[verb]) {
		h.say(cb.ResponseURL, ephemeral(fmt.Sprintf("Sorry, approving needs the %s role; you are a %s in Spacepods.", minRole[verb], tok.Role)))
		return
	}
	if msg := h.approvalRefusal(ctx, tok, j); msg != "" {
		h.say(cb.ResponseURL, ephemeral(msg))
		return
	}
	// The notifier updates the waiting message once the run is decided;
	// this reply tells the channel who pressed the button.
	h.background(cb.ResponseURL, tok, j, false)
}

// say posts rep to responseURL in the background.
func (h *Handler) say(responseURL string, rep reply) {
	h.wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := h.respond(ctx, responseURL, rep); err != nil {
			h.logger().Error("slack response_url", "err", err)
		}
	})
}
