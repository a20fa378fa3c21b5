package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

func (a *app) newDeadLetterCmd() *cobra.Command {
	cmd := groupCmd("deadletter", "List, show, replay and purge a solution's dead letters",
		`An event sent with ?mode=async runs its handlers later, with retries. A handler run that
fails every attempt is parked as a dead letter: the event, the handler, the last error and
the number of attempts. A dead letter is named by its SEQ, shown by "deadletter list".

Once the handler (or what it depends on) is fixed, "deadletter replay" sends the selected
dead letters back to their handlers as fresh deliveries, with every attempt again, and
removes them; "deadletter purge" removes them without running anything. Select one by SEQ,
or several with --handler, --topic and --since, or every one with --all.
The solution comes from -s/--solution or SWITCHBOARD_SOLUTION.`)
	cmd.Aliases = []string{"deadletters", "dlq"}
	cmd.AddCommand(a.newDeadLetterListCmd(), a.newDeadLetterShowCmd(),
		a.newDeadLetterActCmd("replay", "Send dead letters back to their handlers", "replayed"),
		a.newDeadLetterActCmd("purge", "Remove dead letters without running them", "purged"))
	return cmd
}

// deadLetterFilterFlags adds --handler, --topic and --since.
func deadLetterFilterFlags(cmd *cobra.Command, f *apiclient.DeadLetterFilter) {
	fl := cmd.Flags()
	fl.StringVar(&f.Handler, "handler", "", "only this handler's dead letters")
	fl.StringVar(&f.Topic, "topic", "", "only dead letters of events on this topic")
	fl.StringVar(&f.Since, "since", "", "only dead letters parked from this time on: a duration back from now (10m, 2h) or an RFC 3339 time")
}

func parseSeq(s string) (uint64, error) {
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil || seq == 0 {
		return 0, usagef("SEQ %q: want the seq of a dead letter, as \"deadletter list\" shows it", s)
	}
	return seq, nil
}

func (a *app) newDeadLetterListCmd() *cobra.Command {
	var f apiclient.DeadLetterFilter
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List a solution's dead letters, oldest first",
		Long:    "List a solution's dead letters, oldest first. With -o json, each dead letter whole, with its event.",
		Example: "  switchboard deadletter list -s demo\n  switchboard deadletter list -s demo --handler orders_created --since 1h",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			items := []apiclient.DeadLetter{}
			for cursor := ""; ; {
				page, err := c.DeadLetters(cmd.Context(), sol, f, cursor, 0)
				if err != nil {
					return err
				}
				items = append(items, page.Items...)
				if page.NextCursor == "" {
					break
				}
				cursor = page.NextCursor
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"items": items})
			}
			if len(items) == 0 {
				fmt.Fprintf(a.stdout, "solution %s has no dead letters\n", sol)
				return nil
			}
			t := newTable(a.stdout)
			fmt.Fprintln(t, "SEQ\tHANDLER\tTOPIC\tEVENT\tATTEMPTS\tFAILED\tERROR")
			for _, dl := range items {
				fmt.Fprintf(t, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", dl.Seq, dl.Handler, oneLine(dl.Topic), oneLine(dl.EventID), dl.Attempts, formatTime(dl.FailedAt), oneLine(dl.Error))
			}
			return t.Flush()
		},
	}
	a.solutionFlag(cmd)
	deadLetterFilterFlags(cmd, &f)
	return cmd
}

func (a *app) newDeadLetterShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "show SEQ",
		Aliases: []string{"get"},
		Short:   "Show one dead letter with its event",
		Example: "  switchboard deadletter show 42 -s demo",
		Args:    exactArgs("SEQ"),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := parseSeq(args[0])
			if err != nil {
				return err
			}
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			dl, err := c.GetDeadLetter(cmd.Context(), sol, seq)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(dl)
			}
			fmt.Fprintf(a.stdout, "seq:       %d\nhandler:   %s\ntopic:     %s\nevent id:  %s\nattempts:  %d\nfailed at: %s\n", dl.Seq, dl.Handler, oneLine(dl.Topic), oneLine(dl.EventID), dl.Attempts, formatTime(dl.FailedAt))
			if dl.Replays > 0 {
				fmt.Fprintf(a.stdout, "replays:   %d\n", dl.Replays)
			}
			fmt.Fprintf(a.stdout, "error:     %s\nevent:     %s\n", dl.Error, oneLine(string(dl.Event)))
			return nil
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

// newDeadLetterActCmd is replay or purge: both select by SEQ, filters or --all.
func (a *app) newDeadLetterActCmd(verb, short, done string) *cobra.Command {
	var sel apiclient.DeadLetterSelection
	cmd := &cobra.Command{
		Use:   verb + " [SEQ]",
		Short: short,
		Long: short + `: the one named by SEQ, those --handler, --topic and --since
select, or every one with --all. Selecting nothing is refused.`,
		Example: fmt.Sprintf("  switchboard deadletter %[1]s 42 -s demo\n  switchboard deadletter %[1]s --handler orders_created -s demo\n  switchboard deadletter %[1]s --all -s demo", verb),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("%s takes at most one SEQ, got %q", cmd.CommandPath(), strings.Join(args, " "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			filtered := sel.Handler != "" || sel.Topic != "" || sel.Since != ""
			if len(args) == 1 {
				if filtered || sel.All {
					return usagef("SEQ names one dead letter; give it without --handler, --topic, --since or --all")
				}
				var err error
				if sel.Seq, err = parseSeq(args[0]); err != nil {
					return err
				}
			}
			switch {
			case sel.All && filtered:
				return usagef("--all selects every dead letter; give it without --handler, --topic or --since")
			case sel.Seq == 0 && !sel.All && !filtered:
				return usagef("nothing selected: give SEQ, --handler, --topic or --since, or --all")
			}
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			act := c.PurgeDeadLetters
			if verb == "replay" {
				act = c.ReplayDeadLetters
			}
			n, err := act(cmd.Context(), sol, sel)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]int{done: n})
			}
			fmt.Fprintf(a.stdout, "%s %s of %s\n", done, plural(n, "dead letter"), sol)
			return nil
		},
	}
	a.solutionFlag(cmd)
	deadLetterFilterFlags(cmd, &sel.DeadLetterFilter)
	cmd.Flags().BoolVar(&sel.All, "all", false, "every dead letter of the solution")
	return cmd
}
