package builder

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"

	"github.com/spacepods/spacepods/internal/testenv"
)

func TestWriteContext_RespectsDockerignoreModesAndAddsOneLabelStep(t *testing.T) {
	testenv.RequireBinary(t, "git")
	dir := t.TempDir()
	files := map[string]string{
		"svc/Dockerfile":         "FROM scratch\nCOPY . /app",
		"svc/.dockerignore":      "# comment\n*.log\nsecrets\n!secrets/public.txt\nDockerfile\n",
		"svc/run.sh":             "#!/bin/sh\n",
		"svc/app.log":            "noise",
		"svc/secrets/key.pem":    "private",
		"svc/secrets/public.txt": "public",
		"svc/deep/x/y.txt":       "y",
		"outside.txt":            "not in the context",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("run.sh", filepath.Join(dir, "svc/start")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", "x"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	head, _ := repo.Head()
	c, _ := repo.CommitObject(head.Hash())
	if _, err := contextTree(c, "svc", "Dockerfile.prod"); err == nil || !strings.Contains(err.Error(), "there is no svc/Dockerfile.prod in commit") {
		t.Fatalf("missing Dockerfile: %v", err)
	}
	if _, err := contextTree(c, "nope", "Dockerfile"); err == nil || !strings.Contains(err.Error(), "the build context nope is not a directory") {
		t.Fatalf("missing context: %v", err)
	}
	tree, err := contextTree(c, "svc", "Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, _, err := writeContext(&buf, tree, "Dockerfile", map[string]string{"b": `say "hi"`, "a": "1"}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*tar.Header{}
	bodies := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name], bodies[h.Name] = h, string(b)
	}
	want := []string{"Dockerfile", ".dockerignore", "run.sh", "start", "secrets/public.txt", "deep/x/y.txt"}
	if len(got) != len(want) || n != len(want) {
		t.Fatalf("context has %d entries (%d counted), want %v: %v", len(got), n, want, got)
	}
	for _, name := range want {
		if got[name] == nil {
			t.Fatalf("context lacks %s: %v", name, got)
		}
	}
	if got["run.sh"].Mode != 0o755 || got["deep/x/y.txt"].Mode != 0o644 {
		t.Errorf("modes: run.sh %o, y.txt %o", got["run.sh"].Mode, got["deep/x/y.txt"].Mode)
	}
	if got["start"].Typeflag != tar.TypeSymlink || got["start"].Linkname != "run.sh" {
		t.Errorf("symlink: %+v", got["start"])
	}
	if !got["run.sh"].ModTime.Equal(contextTime) {
		t.Errorf("mtime %s: contexts must not depend on commit dates", got["run.sh"].ModTime)
	}
	if want := "FROM scratch\nCOPY . /app\nLABEL \"a\"=\"1\" \"b\"=\"say \\\"hi\\\"\"\n"; bodies["Dockerfile"] != want {
		t.Errorf("Dockerfile:\n%q\nwant\n%q", bodies["Dockerfile"], want)
	}
}

func TestReadMessages_KeepsStepsAndLayerStatesNotByteCounts(t *testing.T) {
	stream := `{"stream":"Step 1/2 : FROM scratch\n"}
{"status":"Preparing","progressDetail":{},"id":"abc"}
{"status":"Pushing","progressDetail":{"current":512,"total":1024},"progress":"[==>  ]","id":"abc"}
{"status":"Pushed","progressDetail":{},"id":"abc"}
{"progressDetail":{},"aux":{"Tag":"1","Digest":"sha256:00","Size":5}}
{"errorDetail":{"message":"COPY failed: no such file"},"error":"COPY failed: no such file"}
{"stream":"never read\n"}`
	var log strings.Builder
	var aux []string
	err := readMessages(strings.NewReader(stream), func(f string, a ...any) { fmt.Fprintf(&log, f, a...) }, func(raw json.RawMessage) { aux = append(aux, string(raw)) })
	if err == nil || err.Error() != "COPY failed: no such file" {
		t.Fatalf("err %v", err)
	}
	want := "Step 1/2 : FROM scratch\nabc: Preparing\nabc: Pushed\nERROR: COPY failed: no such file\n"
	if log.String() != want || len(aux) != 1 {
		t.Fatalf("log:\n%s\naux %v", log.String(), aux)
	}
	if err := readMessages(strings.NewReader(`{"stream":`), t.Logf, nil); err == nil {
		t.Fatal("a cut stream must fail")
	}
}
