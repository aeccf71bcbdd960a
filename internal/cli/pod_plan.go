package cli

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/client"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/terraform"
)

func newPodPlanCmd(g *globals) *cobra.Command {
	var apps, pins []string
	var dir, domain string
	cmd := &cobra.Command{
		Use:   "plan NAME --app APP [--app APP…] [--build APP=N…] [--terraform DIR]",
		Short: "Show what a pod would run, or write its AWS infrastructure as Terraform",
		Long: `Show the plan of a pod without creating it (as pod create --dry-run). With
--terraform DIR, also write the pod's AWS infrastructure to DIR/main.tf, for teams
that manage infrastructure as code: per web app a target group, a host-header
listener rule and a Route 53 alias record; per app an ECS task definition and
service; per app whose database comes from a snapshot an RDS instance restored
from it; variables for the VPC, subnets, listener, zone, cluster and roles.
Nothing is applied (docs/aws.md).`,
		Example: `  spacepods pod plan demo --app storefront --terraform ./infra/demo
  terraform -chdir=./infra/demo init && terraform -chdir=./infra/demo plan`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			builds, err := parseBuilds(pins)
			if err != nil {
				return err
			}
			c := g.client()
			p, err := c.PlanPod(ctx(cmd), client.CreatePodRequest{Name: args[0], Apps: apps, Builds: builds})
			if err != nil {
				return err
			}
			if dir == "" {
				return g.print(p, func() { g.printPlan(p) })
			}
			if domain == "" {
				domain = domainOf(p)
			}
			if domain == "" {
				return spacepods.Errorf(spacepods.EINVALID, "no app of the plan has a URL to take the domain from: give --domain")
			}
			manifests := map[string]spacepods.App{}
			for _, a := range p.Apps {
				m, err := c.GetApp(ctx(cmd), a.App)
				if err != nil {
					return err
				}
				manifests[a.App] = m
			}
			pod, err := terraform.FromPlan(p, domain, manifests)
			if err != nil {
				return err
			}
			path, err := terraform.Write(dir, pod)
			if err != nil {
				return err
			}
			g.printPlan(p)
			fmt.Fprintf(g.stdout, "\nwrote %s: set its variables (vpc_id, subnet_ids, listener_arn, zone_id, …), then terraform init and plan\n", path)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&apps, "app", nil, "app to run (repeat for more); its dependencies come along")
	f.StringArrayVar(&pins, "build", nil, "pin a build: APP=NUMBER (repeatable); default the latest build of main")
	f.StringVar(&dir, "terraform", "", "write the pod's AWS infrastructure as Terraform to DIR/main.tf")
	f.StringVar(&domain, "domain", "", "domain of the app hosts in the Terraform; default: the server's, from the plan's URLs")
	return cmd
}

// domainOf returns the domain of the plan's app URLs (<app>.<pod>.<domain>).
func domainOf(p client.Plan) string {
	for _, a := range p.Apps {
		u, err := url.Parse(a.URL)
		if err != nil || u.Hostname() == "" {
			continue
		}
		if d, ok := strings.CutPrefix(u.Hostname(), a.App+"."+p.Pod+"."); ok {
			return d
		}
	}
	return ""
}
