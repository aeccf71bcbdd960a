package cli

import (
	"strconv"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/internal/spacepods"
)

func newBuildPushesCmd(g *globals) *cobra.Command {
	var rejected bool
	var limit int
	cmd := &cobra.Command{
		Use:   "pushes",
		Short: "List the tag pushes the registry notified: the build each recorded, or why none",
		Long: `List the tag pushes the registry notified, newest first. A push of a tag to an
app's repository records a build (number from the tag or the io.spacepods.build
label, SHA from org.opencontainers.image.revision); a push that cannot be mapped
is kept as rejected, with its reason (see docs/registry.md).`,
		Example: "  spacepods build pushes --rejected",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			status := ""
			if rejected {
				status = spacepods.RegistryEventRejected
			}
			evs, err := g.client().RegistryEvents(ctx(cmd), status, limit)
			if err != nil {
				return err
			}
			return g.print(evs, func() {
				rows := [][]string{}
				for _, e := range evs {
					build := "-"
					if e.Build > 0 {
						build = e.App + "#" + strconv.Itoa(e.Build)
					}
					rows = append(rows, []string{e.Repository + ":" + e.Tag, e.Status, build, ago(e.ReceivedAt), e.Reason})
				}
				g.table([]string{"PUSH", "OUTCOME", "BUILD", "RECEIVED", "REASON"}, rows)
			})
		},
	}
	cmd.Flags().BoolVar(&rejected, "rejected", false, "only pushes that recorded no build")
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many")
	return cmd
}
