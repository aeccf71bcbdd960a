package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Names of runtime objects. Environment, app, worker and service names are
// DNS labels, which may hold dashes themselves, so names joined with dashes
// can be read two ways: environment a-b with service c-r1 and environment a
// with service b-c-r1 both read a-b-c-r1. Every name made of several parts
// comes from here, where each is either unambiguous by its shape or ends in
// a hash of its parts.

// maxName is the longest name a runtime object gets: a DNS label.
const maxName = 63

// ObjectName joins parts (DNS labels) into a name no other parts make: the
// parts joined by dashes, then a dash and eight hex digits of a hash of the
// parts themselves, e.g. spacepods-demo-catalog-api-r3-1-5f0c2b7e. The
// readable head is cut to keep the whole within 63 characters.
func ObjectName(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	suffix := hex.EncodeToString(sum[:4])
	head := strings.Join(parts, "-")
	if limit := maxName - 1 - len(suffix); len(head) > limit {
		head = strings.TrimRight(head[:limit], "-")
	}
	return head + "-" + suffix
}

// ServiceName is the name of the service that runs release of app: its web
// (or main worker) process when worker is "", else one of its workers.
//
// The app's own process is <app>-r<release> (catalog-api-r3): no two apps'
// releases share such a name, since the part after the last "-r" is the
// release number. A worker's is ObjectName(app, worker, r<release>)
// (catalog-api-jobs-r3-0c9d6a1e): it ends in hex digits, never in -r and a
// number, so no app process has it, and its hash tells apart what reads
// the same (app a-w with worker x, app a with worker w-x).
func ServiceName(app string, release int, worker string) string {
	r := fmt.Sprintf("r%d", release)
	if worker != "" {
		return ObjectName(app, worker, r)
	}
	return app + "-" + r
}
