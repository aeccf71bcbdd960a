package spacepods

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestParsePipeline: the server-wide default pipeline is a list of
// environments with flags.
func TestParsePipeline(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{name: "empty", in: "", want: "null"},
		{name: "plain", in: "qa,staging,production", want: `[{"env":"qa"},{"env":"staging"},{"env":"production"}]`},
		{name: "flags", in: "qa:notests, production:approval:hold", want: `[{"env":"qa","tests":false},{"env":"production","approval":true,"on_failure":"hold"}]`},
		{name: "unknown flag", in: "qa:gate", err: `unknown flag "gate"`},
		{name: "twice", in: "qa,qa", err: "qa is listed twice"},
		{name: "bad name", in: "qa,,prod", err: "env is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePipeline(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || ErrorCode(err) != EINVALID {
					t.Fatalf("%v, want %s", err, tt.err)
				}
				return
			}
			b, _ := json.Marshal(got)
			if err != nil || string(b) != tt.want {
				t.Fatalf("%s %v, want %s", b, err, tt.want)
			}
		})
	}
}
