package catalog

import (
	"fmt"

	"github.com/spacepods/spacepods/internal/spacepods"
)

var pipelineKeys = []string{"env", "tests", "approval", "approval_timeout", "on_failure"}

// pipeline decodes pipeline: a list of stages, each a mapping.
func (d *decoder) pipeline(field string, v val) []spacepods.PipelineStage {
	const example = `pipeline: [{env: qa}, {env: staging}, {env: production, approval: true}]`
	switch v.kind {
	case kNull:
		return nil
	case kList:
	default:
		d.problem(v.line, field, fmt.Sprintf("expected a list of stages, found %s: write e.g. %s", v.describe(), example))
		return nil
	}
	out := make([]spacepods.PipelineStage, len(v.seq))
	for i, n := range v.seq {
		ef := fmt.Sprintf("%s[%d]", field, i)
		ev := d.normalize(n, 0)
		if ev.line < 1 {
			ev.line = v.line
		}
		d.record(ef, ev.line)
		if ev.kind == kString {
			out[i].Env = ev.text // - qa: a stage with the defaults
			continue
		}
		if ev.kind != kMap {
			d.problem(ev.line, ef, fmt.Sprintf("expected a stage (an environment name, or a mapping with env), found %s: write e.g. - {env: staging}", ev.describe()))
			continue
		}
		st := &out[i]
		d.mapping(ef, ev.m, pipelineKeys, func(key, f string, v val) {
			switch key {
			case "env":
				st.Env = d.str(f, v, "env: staging")
			case "tests":
				b := d.boolean(f, v, "tests: false")
				st.Tests = &b
			case "approval":
				st.Approval = d.boolean(f, v, "approval: true")
			case "approval_timeout":
				st.ApprovalTimeout = d.duration(f, v, "approval_timeout: 4h")
			case "on_failure":
				st.OnFailure = d.str(f, v, "on_failure: hold")
			}
		})
	}
	return out
}

// boolean decodes true or false.
func (d *decoder) boolean(field string, v val, example string) bool {
	d.record(field, v.line)
	if v.kind == kBool {
		switch v.text {
		case "true", "True", "TRUE":
			return true
		case "false", "False", "FALSE":
			return false
		}
	}
	d.problem(v.line, field, fmt.Sprintf("expected true or false, found %s: write e.g. %s", v.describe(), example))
	return false
}
