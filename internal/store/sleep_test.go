package store_test

import (
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

func TestStore_SleepStateHoldsForTheReleaseItNames(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := ctxAs("alice")
		for _, name := range []string{"a", "b"} {
			if _, err := s.CreateEnvironment(ctx, spacepods.Environment{Name: name, Kind: spacepods.EnvPod, Owner: "alice", Status: spacepods.StatusReady}); err != nil {
				t.Fatal(err)
			}
			s.PutEnvApp(ctx, spacepods.EnvApp{Env: name, App: "web", Release: 2, Status: "healthy", URL: "http://web." + name + ".localhost"})
			s.PutEnvApp(ctx, spacepods.EnvApp{Env: name, App: "api", Release: 1, Status: "healthy", URL: "http://api." + name + ".localhost"})
			s.PutEnvApp(ctx, spacepods.EnvApp{Env: name, App: "jobs", Release: 1, Status: "healthy"}) // a worker: no URL
		}
		if err := s.SetPodSleep(ctx, "a", spacepods.SleepSettings{IdleTimeout: 10 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPodSleep(ctx, "b", spacepods.SleepSettings{KeepAwake: true}); err != nil {
			t.Fatal(err)
		}
		since := time.Now().UTC().Truncate(time.Microsecond)
		for _, a := range []spacepods.AppSleep{
			{Env: "a", App: "web", Release: 2, Since: since, Reason: "idle 10m"},
			{Env: "a", App: "api", Release: 0, Since: since}, // an older release: redeployed since
			{Env: "b", App: "api", Release: 1, Since: since},
		} {
			if err := s.MarkAsleep(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.SleepStates(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		a, b := all["a"], all["b"]
		if a == nil || b == nil || a.Settings.IdleTimeout != 10*time.Minute || !b.Settings.KeepAwake || a.WebApps != 2 {
			t.Fatalf("states: a %+v, b %+v", a, b)
		}
		if len(a.Asleep) != 1 || a.Asleep["web"].Reason != "idle 10m" || !a.Asleep["web"].Since.Equal(since) {
			t.Fatalf("a asleep: %+v", a.Asleep)
		}
		// One pod's record, held against its apps, says the same.
		set, recs, err := s.PodSleepRecord(ctx, "a")
		if err != nil || len(recs) != 2 {
			t.Fatalf("record of a: %+v %v", recs, err)
		}
		apps, _ := s.EnvApps(ctx, "a")
		if st := store.SleepStateOf(set, recs, apps); st.Settings != a.Settings || st.WebApps != 2 || len(st.Asleep) != 1 || st.Asleep["web"].Release != 2 {
			t.Fatalf("state of a from its record: %+v", st)
		}
		one, err := s.SleepStates(ctx, "b")
		if err != nil || len(one) != 1 || len(one["b"].Asleep) != 1 {
			t.Fatalf("states of b: %+v %v", one, err)
		}
		if err := s.MarkAwake(ctx, "a", "web"); err != nil {
			t.Fatal(err)
		}
		// A pod made anew under the name starts with nothing asleep.
		if err := s.SetPodSleep(ctx, "b", spacepods.SleepSettings{}); err != nil {
			t.Fatal(err)
		}
		all, err = s.SleepStates(ctx, "")
		if err != nil || len(all["a"].Asleep) != 0 || len(all["b"].Asleep) != 0 || all["b"].Settings.KeepAwake {
			t.Fatalf("after wake and re-create: a %+v, b %+v, %v", all["a"], all["b"], err)
		}
	})
}
