package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) newWhoAmICmd() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show what the token in use is: the admin token, or which solution's",
		Long: `Show what the token the commands use is (--token, SWITCHBOARD_TOKEN or
<data>/admin-token): the admin token, or the token of one solution. Nothing changes.
An unknown token (revoked, or its solution deleted) is refused.`,
		Example: "  switchboard whoami\n  SWITCHBOARD_TOKEN=sbs_… switchboard whoami -o json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			who, err := c.WhoAmI(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(who)
			}
			if who.Admin {
				_, err = fmt.Fprintln(a.stdout, "the admin token")
			} else {
				_, err = fmt.Fprintf(a.stdout, "the token of solution %s\n", who.Solution)
			}
			return err
		},
	}
}
