package deploy

import (
	"context"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store/storetest"
)

// TestWaitDeploy_AnswersAsSoonAsTheDeployEnds: a waiter on a deploy this
// process runs learns of its end when it is saved, not at its next poll
// (the pods service waits on every app of a pod this way, so a poll's
// pause was added to every pod's create).
func TestWaitDeploy_AnswersAsSoonAsTheDeployEnds(t *testing.T) {
	ctx := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "root", Role: spacepods.RoleAdmin})
	st := storetest.MustOpenSQLite(t)
	if _, err := st.CreateEnvironment(ctx, spacepods.Environment{Name: "qa", Kind: spacepods.EnvMaster, Owner: "root", Status: spacepods.StatusReady, Apps: []string{}}); err != nil {
		t.Fatal(err)
	}
	d, err := st.CreateDeploy(ctx, spacepods.Deploy{Env: "qa", App: "web", Build: 1, Status: spacepods.DeployQueued, Steps: newSteps()})
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{Store: st, Options: Options{Poll: time.Hour}}
	got := make(chan spacepods.Deploy, 1)
	go func() {
		w, err := e.WaitDeploy(ctx, d.ID)
		if err != nil {
			t.Error(err)
		}
		got <- w
	}()
	time.Sleep(50 * time.Millisecond) // the waiter has read the deploy queued
	d.Status, d.EndedAt = spacepods.DeployCompleted, e.now()
	if err := e.save(ctx, &d); err != nil {
		t.Fatal(err)
	}
	select {
	case w := <-got:
		if w.Status != spacepods.DeployCompleted {
			t.Fatalf("WaitDeploy returned %s, want completed", w.Status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitDeploy still waiting 10 s after the deploy was saved completed (Poll is an hour)")
	}
}
