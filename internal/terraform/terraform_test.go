package terraform_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/terraform"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// examplePod is the example system as a pod: a web app with a database
// restored from a snapshot and a secret, a web app without, a worker.
func examplePod(t *testing.T) terraform.Pod {
	t.Helper()
	plan := spacepods.PodPlan{Pod: "demo", Apps: []spacepods.PodPlanApp{
		{App: "catalog-api", Build: 42, Image: "registry.internal/catalog-api:42"},
		{App: "storefront", Build: 7, Image: "registry.internal/storefront:7"},
		{App: "mailer", Build: 3, Image: "registry.internal/mailer:3"},
	}}
	apps := map[string]spacepods.App{
		"catalog-api": {Name: "catalog-api", Kind: spacepods.KindWeb, Port: 8080, Health: "/healthz", Env: map[string]string{"LOG_LEVEL": "info", "GREETING": `say "hi"`},
			Database: &spacepods.Database{Engine: "postgres", Snapshot: "staging-2026-12-01"}},
		"storefront": {Name: "storefront", Kind: spacepods.KindWeb, Port: 3000, Args: []string{"serve", "--port=3000"}, Rollout: spacepods.Rollout{Replicas: map[string]int{"pods": 2}}},
		"mailer":     {Name: "mailer", Kind: spacepods.KindWorker, Command: []string{"/mailer", "run"}},
	}
	p, err := terraform.FromPlan(plan, "pods.example.com", apps)
	if err != nil {
		t.Fatal(err)
	}
	p.Apps[0].Secrets = map[string]string{"API_TOKEN": "/spacepods/apps/catalog-api/pods/API_TOKEN"}
	return p
}

func TestGenerate_MatchesGoldenAndParsesBack(t *testing.T) {
	got, err := terraform.Generate(examplePod(t))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "demo.tf")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil { //nolint:gosec // test fixture
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("generated Terraform differs from %s (go test -update rewrites it after a deliberate change):\n%s", golden, got)
	}

	f, diags := hclparse.NewParser().ParseHCL(got, "demo.tf")
	if diags.HasErrors() {
		t.Fatalf("the generated file does not parse: %s", diags.Error())
	}
	content, diags := f.Body.Content(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "terraform"}, {Type: "variable", LabelNames: []string{"name"}}, {Type: "resource", LabelNames: []string{"type", "name"}},
	}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	have := map[string]bool{}
	vars := map[string]bool{}
	for _, b := range content.Blocks {
		switch b.Type {
		case "resource":
			have[b.Labels[0]+"."+b.Labels[1]] = true
		case "variable":
			vars[b.Labels[0]] = true
		}
	}
	for _, want := range []string{
		"aws_lb_target_group.catalog-api", "aws_lb_listener_rule.catalog-api", "aws_route53_record.catalog-api", "aws_db_instance.catalog-api",
		"aws_ecs_task_definition.catalog-api", "aws_ecs_service.catalog-api",
		"aws_lb_target_group.storefront", "aws_lb_listener_rule.storefront", "aws_route53_record.storefront", "aws_ecs_service.storefront",
		"aws_ecs_task_definition.mailer", "aws_ecs_service.mailer",
	} {
		if !have[want] {
			t.Errorf("missing resource %s", want)
		}
	}
	for _, bad := range []string{"aws_lb_target_group.mailer", "aws_route53_record.mailer", "aws_db_instance.storefront"} {
		if have[bad] {
			t.Errorf("unexpected resource %s", bad)
		}
	}
	for _, v := range []string{"vpc_id", "subnet_ids", "listener_arn", "zone_id"} {
		if !vars[v] {
			t.Errorf("missing variable %s", v)
		}
	}
	if !strings.Contains(string(got), `"storefront.demo.pods.example.com"`) || !strings.Contains(string(got), `"staging-2026-12-01"`) {
		t.Error("host condition or snapshot missing")
	}
}

// terraform fmt -check agrees with hclwrite's formatting, when a terraform
// binary is on PATH (validate needs the AWS provider, which cannot be
// downloaded here: see docs/aws.md).
func TestGenerate_TerraformFmtAgrees(t *testing.T) {
	bin, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("no terraform binary on PATH")
	}
	dir := t.TempDir()
	if _, err := terraform.Write(dir, examplePod(t)); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "fmt", "-check", "-diff", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("terraform fmt -check: %v\n%s", err, out)
	}
}

func TestGenerate_RefusesTemplatesInValues(t *testing.T) {
	p := examplePod(t)
	p.Apps[0].Env["URL"] = "http://${host}"
	if _, err := terraform.Generate(p); spacepods.ErrorCode(err) != spacepods.EINVALID {
		t.Fatalf("an env value with ${: %v, want EINVALID", err)
	}
}
