package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

func (a *app) newSolutionCmd() *cobra.Command {
	cmd := groupCmd("solution", "Create, list, inspect, update and delete solutions and their services",
		`A solution is a tenant: it owns endpoints and event handlers, has its own token and
limits, and adds the services of the catalog its scripts use (add-service, services,
update-service, remove-service). Creating, updating and deleting solutions needs the
admin token. A solution's own token may get it, list it (and no other), and manage its
services.`)
	cmd.Aliases = []string{"solutions"}
	cmd.AddCommand(
		a.newSolutionCreateCmd(),
		a.newSolutionListCmd(),
		a.newSolutionGetCmd(),
		a.newSolutionUpdateCmd(),
		a.newSolutionDeleteCmd(),
		a.newSolutionTokenCmd(),
		a.newSolutionAddServiceCmd(),
		a.newSolutionServicesCmd(),
		a.newSolutionUpdateServiceCmd(),
		a.newSolutionRemoveServiceCmd(),
	)
	return cmd
}

func (a *app) newSolutionCreateCmd() *cobra.Command {
	var lf limitFlags
	var debug bool
	var invalidPayload string
	cmd := &cobra.Command{
		Use:   "create ID",
		Short: "Create a solution and print its token",
		Long: `Create a solution. Limits not given (or 0) take the server's defaults.
With --debug, callers of a failed endpoint also get the error's message and line.
--invalid-payload says what the event gateway does with an application's event whose data
does not match its payload schema: reject it (the default) or mark it and take it.

The solution's token is printed once and cannot be shown again: store it.`,
		Example: `  switchboard solution create demo
  switchboard solution create demo --timeout 5s --memory 16MiB --call-depth 200 --steps 10000000
  switchboard solution create demo --debug
  switchboard solution create demo --invalid-payload mark
  switchboard solution create demo -o json`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			lim, _, err := lf.apply(cmd.Flags(), apiclient.Limits{})
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			out, err := c.CreateSolution(cmd.Context(), apiclient.SolutionCreate{ID: args[0], Limits: lim, Debug: debug, InvalidPayload: invalidPayload})
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(out)
			}
			fmt.Fprintf(a.stdout, "id:     %s\ntoken:  %s\n\n", out.ID, out.Token)
			fmt.Fprintf(a.stdout, "The token is shown only this once. To work on this solution:\n")
			fmt.Fprintf(a.stdout, "  export SWITCHBOARD_SOLUTION=%s SWITCHBOARD_TOKEN=%s\n", out.ID, out.Token)
			return nil
		},
	}
	lf.register(cmd.Flags())
	debugFlag(cmd, &debug)
	invalidPayloadFlag(cmd, &invalidPayload)
	return cmd
}

func (a *app) newSolutionListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the solutions",
		Long:    "List the solutions: all of them with the admin token, only its own with a solution's token.",
		Example: "  switchboard solution list\n  switchboard solution list -o json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			items, err := c.ListSolutions(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"items": items})
			}
			if len(items) == 0 {
				fmt.Fprintln(a.stdout, "no solutions")
				return nil
			}
			t := newTable(a.stdout)
			fmt.Fprintln(t, "ID\tCREATED\tTIMEOUT\tMEMORY\tCALL DEPTH\tSTEPS")
			for _, s := range items {
				l := limitColumns(s.Limits)
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, formatTime(s.CreatedAt), l[0], l[1], l[2], l[3])
			}
			return t.Flush()
		},
	}
}

func (a *app) newSolutionGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "get ID",
		Short:   "Show a solution and its limits",
		Example: "  switchboard solution get demo\n  switchboard solution get demo -o json",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			s, err := c.GetSolution(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.printSolution(s)
		},
	}
}

func (a *app) newSolutionUpdateCmd() *cobra.Command {
	var lf limitFlags
	var debug bool
	var invalidPayload string
	cmd := &cobra.Command{
		Use:   "update ID",
		Short: "Change a solution's limits, debug mode or event gateway settings",
		Long: `Change the limits given; the others stay as they are. At least one setting is required.
A limit of 0 goes back to the server's default. --debug turns debug mode on (callers of
a failed endpoint also get the error's message and line), --debug=false off.
--invalid-payload reject|mark: what the event gateway does with an application's event whose
data does not match its payload schema.`,
		Example: `  switchboard solution update demo --timeout 10s
  switchboard solution update demo --memory 32MiB --steps 50000000
  switchboard solution update demo --timeout 0
  switchboard solution update demo --debug
  switchboard solution update demo --debug=false
  switchboard solution update demo --invalid-payload mark`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, changed, err := lf.apply(cmd.Flags(), apiclient.Limits{})
			if err != nil {
				return err
			}
			debugGiven := cmd.Flags().Changed("debug")
			payloadGiven := cmd.Flags().Changed("invalid-payload")
			if !changed && !debugGiven && !payloadGiven {
				return usagef("nothing to update: give at least one of --timeout, --memory, --call-depth, --steps, --debug, --invalid-payload")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var in apiclient.SolutionUpdate
			if debugGiven {
				in.Debug = &debug
			}
			if payloadGiven {
				in.InvalidPayload = &invalidPayload
			}
			if changed {
				// The API sets all limits at once: start from the current ones.
				cur, err := c.GetSolution(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				lim, _, _ := lf.apply(cmd.Flags(), cur.Limits)
				in.Limits = &lim
			}
			s, err := c.UpdateSolution(cmd.Context(), args[0], in)
			if err != nil {
				return err
			}
			return a.printSolution(s)
		},
	}
	lf.register(cmd.Flags())
	debugFlag(cmd, &debug)
	invalidPayloadFlag(cmd, &invalidPayload)
	return cmd
}

// debugFlag adds --debug, a solution's debug mode.
func invalidPayloadFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "invalid-payload", "", "what the event gateway does with an application's event whose data does not match its payload schema: reject (the default) or mark (taken, with payloadvalid=false)")
}

func debugFlag(cmd *cobra.Command, v *bool) {
	cmd.Flags().BoolVar(v, "debug", false, "debug mode: callers of a failed endpoint also get the error's message and line (--debug=false turns it off)")
}

func (a *app) newSolutionTokenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "token ID",
		Short: "Give a solution a new token, and print it",
		Long: `Give a solution a new token. The old one stops working at once (on every instance as
soon as it sees the change): this is how a leaked token is revoked. The admin token, or the
solution's own token, may do it. The new token is printed once and cannot be shown again.`,
		Example: `  switchboard solution token demo
  switchboard solution token demo -o json`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			out, err := c.NewSolutionToken(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(out)
			}
			fmt.Fprintf(a.stdout, "id:     %s\ntoken:  %s\n\n", out.ID, out.Token)
			fmt.Fprintf(a.stdout, "The old token no longer works; this one is shown only this once.\n")
			return nil
		},
	}
}

func (a *app) newSolutionDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete ID",
		Aliases: []string{"rm"},
		Short:   "Delete a solution and everything it owns",
		Long:    "Delete a solution with its endpoints and everything else it owns. This cannot be undone.",
		Example: "  switchboard solution delete demo",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.DeleteSolution(cmd.Context(), args[0]); err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"id": args[0], "deleted": true})
			}
			fmt.Fprintf(a.stdout, "deleted solution %s\n", args[0])
			return nil
		},
	}
}
