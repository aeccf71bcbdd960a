package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
)

func newSlackCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "slack", Short: "Map Slack users to Spacepods users and roles (admins)", Long: `Slack slash commands and approval buttons act as the Spacepods user their
Slack user is mapped to, with that role; an unmapped Slack user is politely
refused. A mapped user's own pods are also told to them by direct message.
Find a Slack user's ID (U…) in their Slack profile: "Copy member ID".`}
	var role string
	link := &cobra.Command{
		Use:     "link SLACK_USER_ID USER",
		Short:   "Map a Slack user to a Spacepods user and role",
		Example: "  spacepods slack link U024BE7LH alice --role developer",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := g.client().LinkSlackUser(ctx(cmd), args[0], args[1], role)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Slack user %s acts as %s (%s)\n", u.SlackUser, u.Username, u.Role)
			return nil
		},
	}
	link.Flags().StringVar(&role, "role", "developer", "admin, developer or viewer: what their slash commands may do")
	unlink := &cobra.Command{
		Use:   "unlink SLACK_USER_ID",
		Short: "Remove a Slack user's mapping",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().UnlinkSlackUser(ctx(cmd), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Slack user %s is no longer mapped\n", args[0])
			return nil
		},
	}
	users := &cobra.Command{
		Use:   "users",
		Short: "List the mapped Slack users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			us, err := g.client().SlackUsers(ctx(cmd))
			if err != nil {
				return err
			}
			return g.print(us, func() {
				rows := [][]string{}
				for _, u := range us {
					rows = append(rows, []string{u.SlackUser, u.Username, u.Role, u.CreatedBy, ago(u.CreatedAt)})
				}
				g.table([]string{"SLACK USER", "USER", "ROLE", "BY", "LINKED"}, rows)
			})
		},
	}
	cmd.AddCommand(link, unlink, users)
	return cmd
}

func newNotificationsCmd(g *globals) *cobra.Command {
	var target string
	var before int64
	var limit int
	cmd := &cobra.Command{
		Use:   "notifications [--target slack:#deploys|webhook:NAME]",
		Short: "The notification delivery log, newest first",
		Long: `Each notice (pod ready, deploy failed, …) is delivered to each target its
routing rules name (--notify-config on the server). This lists the deliveries:
state (pending, sending, sent, dead), attempts, when the next one is due and
the last error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ds, err := g.client().NotificationDeliveries(ctx(cmd), target, before, limit)
			if err != nil {
				return err
			}
			return g.print(ds, func() {
				rows := [][]string{}
				for _, d := range ds {
					next := ""
					if d.State == "pending" && d.Attempts > 0 {
						next = d.NextAt.Format("15:04:05")
					}
					rows = append(rows, []string{strconv.FormatInt(d.ID, 10), d.Kind, d.Target, d.State, strconv.Itoa(d.Attempts), next, ago(d.CreatedAt), d.LastError})
				}
				g.table([]string{"ID", "KIND", "TARGET", "STATE", "ATTEMPTS", "NEXT", "CREATED", "LAST ERROR"}, rows)
			})
		},
	}
	cmd.Flags().StringVar(&target, "target", "", "only deliveries to this target")
	cmd.Flags().Int64Var(&before, "before", 0, "only deliveries with an ID below this (paging)")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many (1..500)")
	return cmd
}
