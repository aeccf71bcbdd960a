package builder_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"

	"github.com/spacepods/spacepods/internal/builds"
	"github.com/spacepods/spacepods/internal/builds/builder"
	"github.com/spacepods/spacepods/internal/builds/builder/buildertest"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func TestBuilder_BuildsPushesAndRecordsTheCommitThenFetchesIntoTheCache(t *testing.T) {
	f := newFixture(t)
	repo := buildertest.NewRepo(t)
	sha1 := repo.HelloApp("first version")
	f.app("shop", spacepods.BuildSource{Git: repo.URL()})
	b := f.builder(1, true)

	job, err := b.Run(ctxAs("ann"), "shop", spacepods.RunBuildRequest{})
	if err != nil {
		t.Fatal(err)
	}
	j := f.wait(b, job.ID)
	if j.Status != spacepods.JobSucceeded {
		t.Fatalf("job %s: %s\nlog:\n%s", j.Status, j.Error, j.Log)
	}
	wantImage := f.registry.Host + "/shop:1"
	if j.SHA != sha1 || j.Branch != "main" || j.Author != "Ann Author <ann@example.com>" || j.Message != "first version" || j.BuildNumber != 1 || j.Image != wantImage {
		t.Fatalf("job: %+v", j)
	}
	for _, want := range []string{"cloning file://", "Step 1/4 : FROM scratch", "sent the build context: 4 files", "pushing " + wantImage, "recorded build 1"} {
		if !strings.Contains(j.Log, want) {
			t.Errorf("log lacks %q:\n%s", want, j.Log)
		}
	}
	// In the registry, by the digest the job kept, with the labels.
	digest, labels := f.manifest("shop", "1")
	if digest == "" || digest != j.Digest {
		t.Fatalf("registry digest %q, job digest %q; log:\n%s", digest, j.Digest, j.Log)
	}
	for k, v := range map[string]string{"org.opencontainers.image.revision": sha1, "org.opencontainers.image.source": repo.URL(),
		builder.LabelApp: "shop", builder.LabelBranch: "main", builder.LabelBuild: "1", builder.LabelJob: "1"} {
		if labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, labels[k], v, labels)
		}
	}
	build, err := f.store.GetBuild(context.Background(), "shop", 1)
	if err != nil {
		t.Fatal(err)
	}
	if build.GitSHA != sha1 || build.Branch != "main" || build.Author != j.Author || build.Message != "first version" || build.Image != wantImage || build.CreatedBy != "ann" {
		t.Fatalf("build: %+v", build)
	}

	// A second commit on a branch, built by branch name: a fetch into the
	// cached clone, not a clone.
	repo.Git("checkout", "-q", "-b", "feature/x")
	repo.Write(map[string][]byte{"README.md": []byte("second\n")})
	sha2 := repo.Commit("second version\n\nwith a body")
	job2, err := b.Run(ctxAs("bob"), "shop", spacepods.RunBuildRequest{Ref: "feature/x"})
	if err != nil {
		t.Fatal(err)
	}
	j2 := f.wait(b, job2.ID)
	if j2.Status != spacepods.JobSucceeded || j2.SHA != sha2 || j2.Branch != "feature/x" || j2.BuildNumber != 2 || j2.Message != "second version\n\nwith a body" {
		t.Fatalf("second job: %+v\n%s", j2, j2.Log)
	}
	if !strings.Contains(j2.Log, "fetching file://") || strings.Contains(j2.Log, "cloning") {
		t.Fatalf("the second build did not fetch into the cache:\n%s", j2.Log)
	}
	// The first commit by its short SHA: recorded under main, which contains it.
	job3, _ := b.Run(ctxAs("ann"), "shop", spacepods.RunBuildRequest{Ref: sha1[:10]})
	if j3 := f.wait(b, job3.ID); j3.Status != spacepods.JobSucceeded || j3.SHA != sha1 || j3.Branch != "main" {
		t.Fatalf("build by SHA: %+v\n%s", j3, j3.Log)
	}
	if latest, _ := f.store.LatestBuild(context.Background(), "shop", "main"); latest.Number != 3 || latest.GitSHA != sha1 {
		t.Fatalf("latest main build: %+v", latest)
	}
}

func TestBuilder_BrokenDockerfileFailsWithDockersErrorAndRecordsNoBuild(t *testing.T) {
	f := newFixture(t)
	repo := buildertest.NewRepo(t)
	repo.Write(map[string][]byte{"Dockerfile": []byte("FROM scratch\nCOPY does-not-exist /x\n")})
	repo.Commit("broken")
	f.app("broken", spacepods.BuildSource{Git: repo.URL()})
	b := f.builder(1, true)
	job, err := b.Run(ctxAs("ann"), "broken", spacepods.RunBuildRequest{Ref: "main"})
	if err != nil {
		t.Fatal(err)
	}
	j := f.wait(b, job.ID)
	if j.Status != spacepods.JobFailed || j.BuildNumber != 0 || !strings.Contains(j.Error, "docker build") {
		t.Fatalf("job: %+v\n%s", j, j.Log)
	}
	if !strings.Contains(j.Log, "Step 2/3 : COPY does-not-exist /x") || !strings.Contains(j.Log, "ERROR: ") || !strings.Contains(j.Log, "does-not-exist") {
		t.Fatalf("the log lacks Docker's error:\n%s", j.Log)
	}
	if bs, _ := f.store.ListBuilds(context.Background(), spacepods.BuildFilter{App: "broken"}); len(bs) != 0 {
		t.Fatalf("a failed build became a build: %+v", bs)
	}
}

func TestBuilder_BadRefOrMissingDockerfileFailsWithWhatToDo(t *testing.T) {
	f := newFixture(t)
	repo := buildertest.NewRepo(t)
	repo.HelloApp("v1")
	f.app("shop", spacepods.BuildSource{Git: repo.URL()})
	f.app("nodockerfile", spacepods.BuildSource{Git: repo.URL(), Dockerfile: "deploy/Dockerfile"})
	b := f.builder(1, true)
	for _, tc := range []struct{ app, ref, want string }{
		{"shop", "nope", `ref "nope" is not a branch, tag or commit of file://` + repo.Dir + `: its branches are main`},
		{"shop", "deadbeef", `ref "deadbeef" is not a branch, tag or commit`},
		{"nodockerfile", "", `there is no deploy/Dockerfile in commit`},
	} {
		job, err := b.Run(ctxAs("ann"), tc.app, spacepods.RunBuildRequest{Ref: tc.ref})
		if err != nil {
			t.Fatal(err)
		}
		j := f.wait(b, job.ID)
		if j.Status != spacepods.JobFailed || !strings.Contains(j.Error, tc.want) || !strings.Contains(j.Log, tc.want) {
			t.Errorf("%s@%s: %+v\nlog:\n%s", tc.app, tc.ref, j, j.Log)
		}
	}
	if bs, _ := f.store.ListBuilds(context.Background(), spacepods.BuildFilter{App: "shop"}); len(bs) != 0 {
		t.Fatalf("failed jobs recorded builds: %+v", bs)
	}
	// A clone URL that does not answer fails the job too.
	f.app("gone", spacepods.BuildSource{Git: "file://" + t.TempDir() + "/missing.git"})
	job, _ := b.Run(ctxAs("ann"), "gone", spacepods.RunBuildRequest{})
	if j := f.wait(b, job.ID); j.Status != spacepods.JobFailed || !strings.Contains(j.Error, "cannot read file://") {
		t.Fatalf("missing repository: %+v", j)
	}
	// An app without a build source is refused at once.
	if _, _, err := f.store.PutApp(ctxAs("ann"), spacepods.App{Name: "ci-built", Repo: "acme/ci", Kind: spacepods.KindWorker}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Run(ctxAs("ann"), "ci-built", spacepods.RunBuildRequest{}); spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(err.Error(), "add build: {git: CLONE_URL}") {
		t.Fatalf("app without build source: %v", err)
	}
}

func TestBuilder_QueueRunsOneJobAtATimeInOrder(t *testing.T) {
	f := newFixture(t)
	repo := buildertest.NewRepo(t)
	repo.HelloApp("v1")
	f.app("shop", spacepods.BuildSource{Git: repo.URL()})
	b := f.builder(0, false) // 0 = the default, 1
	var ids []int64
	for range 3 {
		j, err := b.Run(ctxAs("ann"), "shop", spacepods.RunBuildRequest{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	if j, _ := b.Job(context.Background(), ids[2], false); j.QueuePosition != 3 {
		t.Fatalf("third job's queue position %d", j.QueuePosition)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); b.Wait() }()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var prevEnd time.Time
	for i, id := range ids {
		j := f.wait(b, id)
		if j.Status != spacepods.JobSucceeded || j.BuildNumber != i+1 {
			t.Fatalf("job %d: %+v\n%s", id, j, j.Log)
		}
		if j.StartedAt.Before(prevEnd) {
			t.Fatalf("job %d started at %s, before the previous one ended at %s", id, j.StartedAt, prevEnd)
		}
		prevEnd = *j.FinishedAt
	}
}

func TestBuilder_InterruptedJobFailsAtStartAndQueuedOnesRun(t *testing.T) {
	f := newFixture(t)
	repo := buildertest.NewRepo(t)
	repo.HelloApp("v1")
	f.app("shop", spacepods.BuildSource{Git: repo.URL()})
	ctx := ctxAs("ann")
	// A server that died mid-build left one job running and one queued.
	running, _ := f.store.AddBuildJob(ctx, "shop", "main")
	queued, _ := f.store.AddBuildJob(ctx, "shop", "main")
	if _, err := f.store.StartBuildJob(ctx, running.ID); err != nil {
		t.Fatal(err)
	}
	b := f.builder(1, true)
	j := f.wait(b, running.ID)
	if j.Status != spacepods.JobFailed || j.Error != builder.InterruptedReason || j.BuildNumber != 0 {
		t.Fatalf("interrupted job: %+v", j)
	}
	if q := f.wait(b, queued.ID); q.Status != spacepods.JobSucceeded || q.BuildNumber != 1 {
		t.Fatalf("the job left queued did not run: %+v\n%s", q, q.Log)
	}
}

func TestBuilder_FollowLogStreamsFromQueuedToTheEnd(t *testing.T) {
	f := newFixture(t)
	repo := buildertest.NewRepo(t)
	repo.HelloApp("v1")
	f.app("shop", spacepods.BuildSource{Git: repo.URL()})
	b := f.builder(1, false)
	job, err := b.Run(ctxAs("ann"), "shop", spacepods.RunBuildRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- b.FollowLog(context.Background(), job.ID, 0, &out) }()
	time.Sleep(100 * time.Millisecond) // the follower waits on a queued job
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); b.Wait() }()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(4 * time.Minute):
		t.Fatal("FollowLog did not return after the job ended")
	}
	j := f.wait(b, job.ID)
	if out.String() != j.Log || !strings.Contains(j.Log, "recorded build 1") {
		t.Fatalf("followed:\n%s\nkept:\n%s", out.String(), j.Log)
	}
	// From an offset: the rest only.
	var rest bytes.Buffer
	if err := b.FollowLog(context.Background(), job.ID, 10, &rest); err != nil || rest.String() != j.Log[10:] {
		t.Fatalf("from offset 10: %q %v", rest.String(), err)
	}
}

func TestBuilder_CancelQueuedJob(t *testing.T) {
	f := newFixture(t)
	repo := buildertest.NewRepo(t)
	repo.HelloApp("v1")
	f.app("shop", spacepods.BuildSource{Git: repo.URL()})
	b := f.builder(1, false)
	job, _ := b.Run(ctxAs("ann"), "shop", spacepods.RunBuildRequest{})
	j, err := b.Cancel(ctxAs("bob"), job.ID)
	if err != nil || j.Status != spacepods.JobCanceled || j.Error != "canceled by bob before it started" {
		t.Fatalf("cancel: %+v %v", j, err)
	}
	if _, err := b.Cancel(ctxAs("bob"), job.ID); spacepods.ErrorCode(err) != spacepods.ECONFLICT {
		t.Fatalf("second cancel: %v", err)
	}
}

// gatedDocker is the real Engine whose builds first wait until the test
// lets them go (or their context ends): a build that is surely running.
type gatedDocker struct {
	builder.Docker
	started chan struct{}
}

func (g gatedDocker) ImageBuild(ctx context.Context, r io.Reader, o build.ImageBuildOptions) (build.ImageBuildResponse, error) {
	g.started <- struct{}{}
	<-ctx.Done()
	return build.ImageBuildResponse{}, ctx.Err()
}

func TestBuilder_CancelRunningJobEndsItCanceledWithoutABuild(t *testing.T) {
	f := newFixture(t)
	repo := buildertest.NewRepo(t)
	repo.HelloApp("v1")
	f.app("shop", spacepods.BuildSource{Git: repo.URL()})
	gd := gatedDocker{Docker: f.docker, started: make(chan struct{}, 1)}
	b, err := builder.New(builder.Config{Store: f.store, Docker: gd, Registry: builds.Registry{Host: f.registry.Host}, DataDir: f.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); b.Wait() }()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	job, _ := b.Run(ctxAs("ann"), "shop", spacepods.RunBuildRequest{})
	next, _ := b.Run(ctxAs("ann"), "shop", spacepods.RunBuildRequest{})
	select {
	case <-gd.started:
	case <-time.After(2 * time.Minute):
		t.Fatal("the build did not start")
	}
	j, err := b.Cancel(ctxAs("bob"), job.ID)
	if err != nil || j.Status != spacepods.JobCanceled || j.Error != "canceled by bob while it ran" || j.BuildNumber != 0 {
		t.Fatalf("cancel: %+v %v", j, err)
	}
	if j, _ := b.Job(context.Background(), job.ID, true); !strings.Contains(j.Log, "build canceled: canceled by bob while it ran") {
		t.Fatalf("log:\n%s", j.Log)
	}
	// The queue goes on with the next job.
	select {
	case <-gd.started:
	case <-time.After(2 * time.Minute):
		t.Fatal("the next job did not start")
	}
	if _, err := b.Cancel(ctxAs("bob"), next.ID); err != nil {
		t.Fatal(err)
	}
	if bs, _ := f.store.ListBuilds(context.Background(), spacepods.BuildFilter{App: "shop"}); len(bs) != 0 {
		t.Fatalf("canceled jobs recorded builds: %+v", bs)
	}
}
