package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

func (a *app) newEventCmd() *cobra.Command {
	cmd := groupCmd("event", "Publish events to a solution's handlers",
		`An event has a topic, such as orders.created, and JSON data; every handler of the
solution subscribed to the topic (or to a wildcard matching it, such as orders.* or
orders.>) runs for it. The solution comes from -s/--solution or SWITCHBOARD_SOLUTION.`)
	cmd.Aliases = []string{"events"}
	cmd.AddCommand(a.newEventPublishCmd(), a.newEventTailCmd())
	return cmd
}

func (a *app) newEventPublishCmd() *cobra.Command {
	var (
		sync          bool
		id, correlate string
	)
	cmd := &cobra.Command{
		Use:   "publish TOPIC [DATA]",
		Short: "Publish one event",
		Long: `Publish an event on TOPIC with DATA: JSON text, @FILE for a file's JSON, or "-" for
standard input. The event is stored and its handlers run later; the answer is its id.
With --sync the handlers run now and the answer is what they returned (a map by handler
name when several ran). A topic no handler subscribes to is an error, and nothing is stored.`,
		Example: `  switchboard event publish orders.created '{"order": 42}' -s shop
  switchboard event publish orders.created @order.json -s shop --sync
  echo '{"order": 42}' | switchboard event publish orders.created - --id order-42`,
		Args: rangeArgs(1, "TOPIC", "DATA"),
		RunE: func(cmd *cobra.Command, args []string) error {
			e := apiclient.PublishedEvent{ID: id, Topic: args[0], CorrelationID: correlate}
			if len(args) == 2 {
				text, err := a.readText("DATA", args[1])
				if err != nil {
					return err
				}
				if !json.Valid([]byte(text)) {
					return usagef("DATA: not JSON; quote text as a JSON string, such as '\"hello\"'")
				}
				e.Data = json.RawMessage(text)
			}
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			out, err := c.PublishEvent(cmd.Context(), sol, e, sync)
			if err != nil {
				return err
			}
			if a.jsonOutput() || sync {
				return a.printJSON(out)
			}
			var acc struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(out, &acc); err != nil {
				return fmt.Errorf("unexpected answer %s: %w", out, err)
			}
			fmt.Fprintf(a.stdout, "published event %s on %s\n", acc.ID, e.Topic)
			return nil
		},
	}
	a.solutionFlag(cmd)
	cmd.Flags().BoolVar(&sync, "sync", false, "run the handlers now and print what they returned")
	cmd.Flags().StringVar(&id, "id", "", "the event's id (default: a fresh one); the same id sent again within two minutes is stored once")
	cmd.Flags().StringVar(&correlate, "correlation-id", "", "a correlation id the handlers see as event.correlation_id")
	return cmd
}

func (a *app) newEventTailCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tail [TOPIC-PATTERN]",
		Short: "Show each event published to a solution, live",
		Long: `Show each event published to the solution from now on, one line each: its time, topic,
id and data. TOPIC-PATTERN keeps those whose topic matches it, a topic or a subscription
with wildcards (orders.*, orders.>); without it every topic is shown. Events published with
--sync are not stored, and not shown. With -o json each event is one JSON line. Runs until
interrupted or the server stops.`,
		Example: `  switchboard event tail -s shop
  switchboard event tail 'orders.>' -s shop`,
		Args: rangeArgs(0, "TOPIC-PATTERN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pattern := ""
			if len(args) == 1 {
				pattern = args[0]
			}
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			err = c.TailEvents(cmd.Context(), sol, pattern, func(e apiclient.TailedEvent) error {
				if a.jsonOutput() {
					return json.NewEncoder(a.stdout).Encode(e)
				}
				_, err := fmt.Fprintf(a.stdout, "%s %s %s %s\n", formatTime(e.Time), e.Topic, oneLine(e.ID), oneLine(string(e.Data)))
				return err
			})
			if errors.Is(err, apiclient.ErrStreamEnded) {
				return fmt.Errorf("%w (is it stopping?)", err)
			}
			return err
		},
	}
	a.solutionFlag(cmd)
	return cmd
}
