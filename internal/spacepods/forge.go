package spacepods

import "time"

// Forge delivery states. A delivery is stored as pending before the forge
// gets its answer, then processed in the background.
const (
	DeliveryPending    = "pending"    // stored, waiting for the worker
	DeliveryProcessing = "processing" // a worker has it (back to pending on restart)
	DeliveryDone       = "done"       // handled: Result says what it triggered
	DeliveryIgnored    = "ignored"    // nothing to do: Result says why
	DeliveryFailed     = "failed"     // a handler or a forge call failed: Error says how
)

// ForgeDelivery is one webhook delivery from the code forge, as the
// delivery log shows it.
type ForgeDelivery struct {
	ID         int64  `json:"id"`
	DeliveryID string `json:"delivery_id"` // the forge's GUID (X-GitHub-Delivery / X-Gitea-Delivery)
	Event      string `json:"event"`       // push, pull_request, issue_comment, ping, …
	Action     string `json:"action,omitempty"`
	Repo       string `json:"repo,omitempty"`
	// PR is the pull request number of pull_request and issue_comment
	// events on pull requests, 0 otherwise.
	PR         int        `json:"pr,omitempty"`
	State      string     `json:"state"`
	Result     string     `json:"result,omitempty"` // what it triggered, or why nothing
	Error      string     `json:"error,omitempty"`
	Attempts   int        `json:"attempts"`
	ReceivedAt time.Time  `json:"received_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Payload is the body as received (kept for the worker and for
	// redeliveries; not sent by the API).
	Payload []byte `json:"-"`
}
