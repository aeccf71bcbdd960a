package previews

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Decision says whether a pull request gets a pod for one app, and why.
type Decision struct {
	Pod    bool
	Reason string // for the delivery log and the PR comment
}

// Decide applies an app's preview policy (manifest previews:) to a pull
// request. In order: bot authors never get a pod; the opt-out label wins;
// when: never and when: label (without its label) get none; a draft gets
// one only when labelled with the opt-in label; otherwise it does. A
// collaborator's /spacepods preview comment bypasses all of this (the
// caller's concern).
func Decide(p *spacepods.Previews, pr forge.PullRequest) Decision {
	has := func(l string) bool {
		return slices.ContainsFunc(pr.Labels, func(x string) bool { return strings.EqualFold(x, l) })
	}
	when, in, out := p.PolicyWhen(), p.OptInLabel(), p.OptOutLabel()
	switch {
	case IsBot(pr):
		return Decision{false, fmt.Sprintf("author %s is a bot", pr.Author)}
	case when != spacepods.PreviewLabel && when != spacepods.PreviewNever && has(out):
		return Decision{false, fmt.Sprintf("labelled %q (opt-out)", out)}
	case when == spacepods.PreviewNever:
		return Decision{false, "the app's previews.when is never (a collaborator may comment /spacepods preview)"}
	case when == spacepods.PreviewLabel && !has(in):
		return Decision{false, fmt.Sprintf("not labelled %q (the app's previews are opt-in)", in)}
	case pr.Draft && !has(in):
		return Decision{false, fmt.Sprintf("draft (label it %q to get a pod)", in)}
	}
	return Decision{true, "previews." + "when: " + when}
}

// IsBot reports whether the pull request's author is a bot account.
func IsBot(pr forge.PullRequest) bool {
	return pr.IsBot || strings.HasSuffix(strings.ToLower(pr.Author), "[bot]")
}

// Command is a /spacepods command in a comment.
type Command string

// Comment commands.
const (
	CmdNone    Command = ""
	CmdPreview Command = "preview"
	CmdDestroy Command = "destroy"
)

// ParseCommand finds a /spacepods command on a line of its own in a
// comment body. Quoted lines ("> /spacepods destroy") are not commands.
func ParseCommand(body string) (Command, string) {
	for _, line := range strings.Split(body, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "/spacepods" {
			continue
		}
		switch strings.ToLower(f[1]) {
		case string(CmdPreview):
			return CmdPreview, ""
		case string(CmdDestroy):
			return CmdDestroy, ""
		default:
			return CmdNone, fmt.Sprintf("unknown command /spacepods %s: use /spacepods preview or /spacepods destroy", f[1])
		}
	}
	return CmdNone, ""
}

// Pin is a Spacepods-With line of a pull request body: another repo's
// pull request whose build goes into the pod.
type Pin struct {
	App    string // an app name, or a repository "owner/name"
	Number int
}

var withRE = regexp.MustCompile(`(?im)^\s*Spacepods-With:\s*(.+?)\s*$`)
var pinRE = regexp.MustCompile(`^([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)?)#([0-9]+)$`)

// ParsePins reads every "Spacepods-With: catalog-api#12" line (several
// pins may share a line, separated by commas or spaces). Malformed pins are
// returned as problems, not dropped silently.
func ParsePins(body string) ([]Pin, []string) {
	var pins []Pin
	var bad []string
	for _, m := range withRE.FindAllStringSubmatch(body, -1) {
		for _, f := range strings.FieldsFunc(m[1], func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			pm := pinRE.FindStringSubmatch(f)
			if pm == nil {
				bad = append(bad, fmt.Sprintf("Spacepods-With: %q is not APP#NUMBER (e.g. catalog-api#12)", f))
				continue
			}
			n, _ := strconv.Atoi(pm[2])
			pins = append(pins, Pin{App: pm[1], Number: n})
		}
	}
	return pins, bad
}

// PodName is the name of the pod of pull request number's app:
// <prefix>pr-<number>-<app>. An app belongs to one repository, so (number,
// app) names one pull request's pod. A name over the 40-character limit
// keeps the start of the app's name and ends in a hash of the whole.
func PodName(prefix string, number int, app string) string {
	name := fmt.Sprintf("%spr-%d-%s", prefix, number, app)
	if len(name) <= spacepods.MaxNameLen {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	h := hex.EncodeToString(sum[:])[:6]
	keep := spacepods.MaxNameLen - len(h) - 1
	return strings.TrimRight(name[:keep], "-") + "-" + h
}
