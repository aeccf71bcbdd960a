package runtime

import (
	"context"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

type fakeDriver struct{ Driver }

func (fakeDriver) Name() string { return "fake" }

// TestRegistry_OpenPicksByIDAndListsTheKnownOnes: Open calls the factory
// registered under the ID with the config; an unknown ID is EINVALID and
// lists the registered IDs; registering an ID twice panics.
func TestRegistry_OpenPicksByIDAndListsTheKnownOnes(t *testing.T) {
	var got Config
	Register("fake", func(_ context.Context, cfg Config) (Driver, error) { got = cfg; return fakeDriver{}, nil })
	Register("fake-too", func(context.Context, Config) (Driver, error) {
		return nil, spacepods.Errorf(spacepods.EUNAVAILABLE, "down")
	})
	d, err := Open(context.Background(), "fake", Config{Installation: "i-1", Routing: RoutingIngress})
	if err != nil || d.Name() != "fake" || got.Installation != "i-1" || got.Routing != RoutingIngress {
		t.Fatalf("Open(fake) = %v, %v; factory got %+v", d, err, got)
	}
	if _, err := Open(context.Background(), "fake-too", Config{}); spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE {
		t.Fatalf("a factory's error is not passed on: %v", err)
	}
	_, err = Open(context.Background(), "ecs", Config{})
	if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(err.Error(), `"ecs"`) || !strings.Contains(err.Error(), "fake, fake-too") {
		t.Fatalf("unknown runtime: want EINVALID listing fake, fake-too; got %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("registering fake twice did not panic")
		}
	}()
	Register("fake", func(context.Context, Config) (Driver, error) { return nil, nil })
}

// TestSettingsOf_ReadsADriversOwnSettings: absent settings are the zero
// value; settings of another type are EINTERNAL, not a silent default.
func TestSettingsOf_ReadsADriversOwnSettings(t *testing.T) {
	type mine struct{ Addr string }
	cfg := Config{Settings: map[string]any{"mine": mine{Addr: "10.0.0.1"}, "other": 42}}
	if s, err := SettingsOf[mine](cfg, "mine"); err != nil || s.Addr != "10.0.0.1" {
		t.Fatalf("own settings: %+v, %v", s, err)
	}
	if s, err := SettingsOf[mine](cfg, "absent"); err != nil || s != (mine{}) {
		t.Fatalf("absent settings: %+v, %v", s, err)
	}
	if _, err := SettingsOf[mine](cfg, "other"); spacepods.ErrorCode(err) != spacepods.EINTERNAL {
		t.Fatalf("settings of another type: want EINTERNAL, got %v", err)
	}
}
