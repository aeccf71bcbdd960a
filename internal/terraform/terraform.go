// Package terraform writes a pod's AWS infrastructure as Terraform for
// teams that manage infrastructure as code: per web app a target group, a
// host-header listener rule and a Route 53 alias record; per app an ECS
// task definition and service; per app whose database comes from a
// snapshot an RDS instance restored from it; and variables for what the
// pod does not own (VPC, subnets, listener, zone, cluster, roles). It is
// generated with hclwrite (never string templates), so names and values
// are always quoted as HCL wants them.
//
// It mirrors what the ecs runtime, the alb mover and the rds package make
// (same names, same tags), so a pod exported and applied looks like one
// Spacepods made.
package terraform

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/spacepods/spacepods/internal/aws/rds"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Pod is what is exported.
type Pod struct {
	Name   string
	Domain string // app hosts are <app>.<pod>.<domain>
	Apps   []App
}

// App is one app of the pod.
type App struct {
	Name     string
	Web      bool
	Image    string
	Release  int // the build, as the pod runs it
	Port     int
	Health   string
	Replicas int
	Command  []string
	Args     []string
	Env      map[string]string
	// Secrets are name → valueFrom (SSM parameter name or secret ARN).
	Secrets map[string]string
	// Snapshot, when set, is the RDS snapshot the app's database instance
	// is restored from.
	Snapshot string
}

// FromPlan returns the Pod of a pod plan, with the apps' manifests (by
// name) for what the plan does not say.
func FromPlan(plan spacepods.PodPlan, domain string, apps map[string]spacepods.App) (Pod, error) {
	p := Pod{Name: plan.Pod, Domain: domain}
	for _, pa := range plan.Apps {
		a, ok := apps[pa.App]
		if !ok {
			return Pod{}, spacepods.Errorf(spacepods.ENOTFOUND, "app %s of the plan has no manifest", pa.App)
		}
		replicas := 1
		if n, ok := a.Rollout.Replicas["pods"]; ok && n > 0 {
			replicas = n
		}
		app := App{Name: a.Name, Web: a.Kind == spacepods.KindWeb, Image: pa.Image, Release: pa.Build, Port: a.Port, Health: a.Health,
			Replicas: replicas, Command: a.Command, Args: a.Args, Env: a.Env}
		if a.Database != nil && a.Database.Snapshot != "" {
			app.Snapshot = a.Database.Snapshot
		}
		p.Apps = append(p.Apps, app)
	}
	return p, nil
}

// Generate returns the pod as one Terraform file.
func Generate(p Pod) ([]byte, error) {
	if err := runtime.ValidateName("pod", p.Name); err != nil {
		return nil, err
	}
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	tf := b.AppendNewBlock("terraform", nil).Body()
	tf.SetAttributeValue("required_version", cty.StringVal(">= 1.5"))
	prov := tf.AppendNewBlock("required_providers", nil).Body()
	prov.SetAttributeValue("aws", cty.ObjectVal(map[string]cty.Value{"source": cty.StringVal("hashicorp/aws"), "version": cty.StringVal(">= 5.0")}))
	b.AppendNewline()

	variable(b, "vpc_id", "string", "VPC of the target groups", cty.NilVal)
	variable(b, "subnet_ids", "list(string)", "subnets of the tasks (awsvpc)", cty.NilVal)
	variable(b, "security_group_ids", "list(string)", "security groups of the tasks and database instances", cty.NilVal)
	variable(b, "listener_arn", "string", "load balancer listener that gets a rule per app host", cty.NilVal)
	variable(b, "lb_dns_name", "string", "DNS name of the load balancer", cty.NilVal)
	variable(b, "lb_zone_id", "string", "canonical hosted zone of the load balancer", cty.NilVal)
	variable(b, "zone_id", "string", "Route 53 hosted zone of the app hosts", cty.NilVal)
	variable(b, "cluster_arn", "string", "ECS cluster", cty.NilVal)
	variable(b, "execution_role_arn", "string", "ECS task execution role", cty.NilVal)
	variable(b, "log_group", "string", "CloudWatch Logs group of the pod's containers", cty.StringVal("/spacepods/"+p.Name))
	variable(b, "db_instance_class", "string", "class of the pod's database instances", cty.StringVal("db.t4g.micro"))
	variable(b, "db_subnet_group", "string", "DB subnet group of the pod's database instances", cty.NilVal)
	variable(b, "region", "string", "region of the log group", cty.NilVal)
	variable(b, "rule_priority_base", "number", "the pod's listener rules take the priorities after this one", cty.NumberIntVal(1000))

	for prio, a := range p.Apps {
		if err := runtime.ValidateName("app", a.Name); err != nil {
			return nil, err
		}
		if err := app(b, p, a, prio+1); err != nil {
			return nil, err
		}
	}
	return hclwrite.Format(f.Bytes()), nil
}

func variable(b *hclwrite.Body, name, typ, desc string, def cty.Value) {
	v := b.AppendNewBlock("variable", []string{name}).Body()
	v.SetAttributeRaw("type", hclwrite.TokensForIdentifier(typ))
	if typ != "string" && typ != "number" {
		// list(string) is a type expression, not an identifier: parse it.
		expr, diags := hclwrite.ParseConfig([]byte("x = "+typ+"\n"), "type", hcl.InitialPos)
		if !diags.HasErrors() {
			v.SetAttributeRaw("type", expr.Body().GetAttribute("x").Expr().BuildTokens(nil))
		}
	}
	v.SetAttributeValue("description", cty.StringVal(desc))
	if def != cty.NilVal {
		v.SetAttributeValue("default", def)
	}
	b.AppendNewline()
}

func ref(parts ...string) hclwrite.Tokens {
	return hclwrite.TokensForTraversal(traversal(parts...))
}

func traversal(parts ...string) hcl.Traversal {
	t := hcl.Traversal{hcl.TraverseRoot{Name: parts[0]}}
	for _, p := range parts[1:] {
		t = append(t, hcl.TraverseAttr{Name: p})
	}
	return t
}

func tags(p Pod, a App) cty.Value {
	l := runtime.Labels(nil, p.Name, a.Name, a.Name, role(a), a.Release, "")
	m := map[string]cty.Value{}
	for _, k := range slices.Sorted(maps.Keys(l)) {
		m[k] = cty.StringVal(l[k])
	}
	return cty.MapVal(m)
}

func role(a App) string {
	if a.Web {
		return runtime.RoleWeb
	}
	return runtime.RoleWorker
}

// app writes one app's resources; prio is its listener rule's priority.
func app(b *hclwrite.Body, p Pod, a App, prio int) error {
	host := a.Name + "." + p.Name + "." + p.Domain
	family := p.Name + "_" + a.Name
	if a.Web {
		tg := b.AppendNewBlock("resource", []string{"aws_lb_target_group", a.Name}).Body()
		tg.SetAttributeValue("name_prefix", cty.StringVal("sp-"))
		tg.SetAttributeValue("port", cty.NumberIntVal(int64(a.Port)))
		tg.SetAttributeValue("protocol", cty.StringVal("HTTP"))
		tg.SetAttributeValue("target_type", cty.StringVal("ip"))
		tg.SetAttributeRaw("vpc_id", ref("var", "vpc_id"))
		hc := tg.AppendNewBlock("health_check", nil).Body()
		hc.SetAttributeValue("path", cty.StringVal(orDefault(a.Health, "/")))
		tg.SetAttributeValue("tags", tags(p, a))
		b.AppendNewline()

		rule := b.AppendNewBlock("resource", []string{"aws_lb_listener_rule", a.Name}).Body()
		rule.SetAttributeRaw("listener_arn", ref("var", "listener_arn"))
		// The listener's other rules keep their priorities below the base.
		rule.SetAttributeRaw("priority", append(ref("var", "rule_priority_base"),
			&hclwrite.Token{Type: hclsyntax.TokenPlus, Bytes: []byte("+"), SpacesBefore: 1},
			&hclwrite.Token{Type: hclsyntax.TokenNumberLit, Bytes: []byte(strconv.Itoa(prio)), SpacesBefore: 1}))
		act := rule.AppendNewBlock("action", nil).Body()
		act.SetAttributeValue("type", cty.StringVal("forward"))
		fwd := act.AppendNewBlock("forward", nil).Body()
		tgb := fwd.AppendNewBlock("target_group", nil).Body()
		tgb.SetAttributeRaw("arn", ref("aws_lb_target_group", a.Name, "arn"))
		tgb.SetAttributeValue("weight", cty.NumberIntVal(1))
		cond := rule.AppendNewBlock("condition", nil).Body()
		hh := cond.AppendNewBlock("host_header", nil).Body()
		hh.SetAttributeValue("values", cty.ListVal([]cty.Value{cty.StringVal(host)}))
		rule.SetAttributeValue("tags", tags(p, a))
		b.AppendNewline()

		rec := b.AppendNewBlock("resource", []string{"aws_route53_record", a.Name}).Body()
		rec.SetAttributeRaw("zone_id", ref("var", "zone_id"))
		rec.SetAttributeValue("name", cty.StringVal(host))
		rec.SetAttributeValue("type", cty.StringVal("A"))
		al := rec.AppendNewBlock("alias", nil).Body()
		al.SetAttributeRaw("name", ref("var", "lb_dns_name"))
		al.SetAttributeRaw("zone_id", ref("var", "lb_zone_id"))
		al.SetAttributeValue("evaluate_target_health", cty.True)
		b.AppendNewline()
	}

	if a.Snapshot != "" {
		db := b.AppendNewBlock("resource", []string{"aws_db_instance", a.Name}).Body()
		db.SetAttributeValue("identifier", cty.StringVal(rds.InstanceID(p.Name, a.Name)))
		db.SetAttributeValue("snapshot_identifier", cty.StringVal(a.Snapshot))
		db.SetAttributeRaw("instance_class", ref("var", "db_instance_class"))
		db.SetAttributeRaw("db_subnet_group_name", ref("var", "db_subnet_group"))
		db.SetAttributeRaw("vpc_security_group_ids", ref("var", "security_group_ids"))
		db.SetAttributeValue("publicly_accessible", cty.False)
		db.SetAttributeValue("skip_final_snapshot", cty.True) // a pod's data is a copy
		db.SetAttributeValue("tags", tags(p, a))
		b.AppendNewline()
	}

	def, err := containerDefinitions(a)
	if err != nil {
		return err
	}
	td := b.AppendNewBlock("resource", []string{"aws_ecs_task_definition", a.Name}).Body()
	td.SetAttributeValue("family", cty.StringVal(family))
	td.SetAttributeValue("requires_compatibilities", cty.ListVal([]cty.Value{cty.StringVal("FARGATE")}))
	td.SetAttributeValue("network_mode", cty.StringVal("awsvpc"))
	td.SetAttributeValue("cpu", cty.StringVal("256"))
	td.SetAttributeValue("memory", cty.StringVal("512"))
	td.SetAttributeRaw("execution_role_arn", ref("var", "execution_role_arn"))
	td.SetAttributeRaw("container_definitions", hclwrite.TokensForFunctionCall("jsonencode", def))
	td.SetAttributeValue("tags", tags(p, a))
	b.AppendNewline()

	svc := b.AppendNewBlock("resource", []string{"aws_ecs_service", a.Name}).Body()
	svc.SetAttributeValue("name", cty.StringVal(family))
	svc.SetAttributeRaw("cluster", ref("var", "cluster_arn"))
	svc.SetAttributeRaw("task_definition", ref("aws_ecs_task_definition", a.Name, "arn"))
	svc.SetAttributeValue("desired_count", cty.NumberIntVal(int64(a.Replicas)))
	svc.SetAttributeValue("launch_type", cty.StringVal("FARGATE"))
	svc.SetAttributeValue("deployment_minimum_healthy_percent", cty.NumberIntVal(100))
	svc.SetAttributeValue("deployment_maximum_percent", cty.NumberIntVal(200))
	cb := svc.AppendNewBlock("deployment_circuit_breaker", nil).Body()
	cb.SetAttributeValue("enable", cty.True)
	cb.SetAttributeValue("rollback", cty.True)
	nc := svc.AppendNewBlock("network_configuration", nil).Body()
	nc.SetAttributeRaw("subnets", ref("var", "subnet_ids"))
	nc.SetAttributeRaw("security_groups", ref("var", "security_group_ids"))
	if a.Web {
		lb := svc.AppendNewBlock("load_balancer", nil).Body()
		lb.SetAttributeRaw("target_group_arn", ref("aws_lb_target_group", a.Name, "arn"))
		lb.SetAttributeValue("container_name", cty.StringVal("app"))
		lb.SetAttributeValue("container_port", cty.NumberIntVal(int64(a.Port)))
	}
	svc.SetAttributeValue("propagate_tags", cty.StringVal("SERVICE"))
	svc.SetAttributeValue("tags", tags(p, a))
	b.AppendNewline()
	return nil
}

// containerDefinitions is the task definition's one container, as the ecs
// runtime registers it, as the tokens of an HCL value for jsonencode (the
// log group and region are references to variables).
func containerDefinitions(a App) (hclwrite.Tokens, error) {
	// A value that reads like an interpolation is written escaped ($${),
	// so Terraform keeps it as it is; say so rather than surprise.
	for k, v := range a.Env {
		if containsTemplate(v) {
			return nil, spacepods.Errorf(spacepods.EINVALID, "env var %s of %s holds \"${\" or \"%%{\": Terraform would read it as a template; export it without", k, a.Name)
		}
	}
	c := map[string]hclwrite.Tokens{
		"name":      hclwrite.TokensForValue(cty.StringVal("app")),
		"image":     hclwrite.TokensForValue(cty.StringVal(a.Image)),
		"essential": hclwrite.TokensForValue(cty.True),
		"logConfiguration": object(map[string]hclwrite.Tokens{
			"logDriver": hclwrite.TokensForValue(cty.StringVal("awslogs")),
			"options": object(map[string]hclwrite.Tokens{
				"awslogs-group": ref("var", "log_group"), "awslogs-region": ref("var", "region"),
				"awslogs-stream-prefix": hclwrite.TokensForValue(cty.StringVal(a.Name)),
			}),
		}),
	}
	if len(a.Command) > 0 {
		c["entryPoint"] = hclwrite.TokensForValue(stringList(a.Command))
	}
	if len(a.Args) > 0 {
		c["command"] = hclwrite.TokensForValue(stringList(a.Args))
	}
	if a.Web && a.Port > 0 {
		c["portMappings"] = hclwrite.TokensForValue(cty.TupleVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{"containerPort": cty.NumberIntVal(int64(a.Port)), "protocol": cty.StringVal("tcp")})}))
	}
	if len(a.Env) > 0 {
		var env []cty.Value
		for _, k := range slices.Sorted(maps.Keys(a.Env)) {
			env = append(env, cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(k), "value": cty.StringVal(a.Env[k])}))
		}
		c["environment"] = hclwrite.TokensForValue(cty.TupleVal(env))
	}
	if len(a.Secrets) > 0 {
		var sec []cty.Value
		for _, k := range slices.Sorted(maps.Keys(a.Secrets)) {
			sec = append(sec, cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(k), "valueFrom": cty.StringVal(a.Secrets[k])}))
		}
		c["secrets"] = hclwrite.TokensForValue(cty.TupleVal(sec))
	}
	return hclwrite.TokensForTuple([]hclwrite.Tokens{object(c)}), nil
}

// object returns the tokens of an object with these attributes, sorted.
func object(attrs map[string]hclwrite.Tokens) hclwrite.Tokens {
	var items []hclwrite.ObjectAttrTokens
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		items = append(items, hclwrite.ObjectAttrTokens{Name: hclwrite.TokensForValue(cty.StringVal(k)), Value: attrs[k]})
	}
	return hclwrite.TokensForObject(items)
}

func containsTemplate(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if (s[i] == '$' || s[i] == '%') && s[i+1] == '{' {
			return true
		}
	}
	return false
}

func stringList(ss []string) cty.Value {
	vs := make([]cty.Value, 0, len(ss))
	for _, s := range ss {
		vs = append(vs, cty.StringVal(s))
	}
	return cty.ListVal(vs)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Write writes the pod as dir/main.tf (dir is made if missing) and
// returns the file's path.
func Write(dir string, p Pod) (string, error) {
	src, err := Generate(p)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("terraform dir: %w", err)
	}
	path := filepath.Join(dir, "main.tf")
	if err := os.WriteFile(path, src, 0o644); err != nil { //nolint:gosec // G306: Terraform files are not secret (secrets are references)
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}
