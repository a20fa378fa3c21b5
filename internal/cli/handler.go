package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

func (a *app) newHandlerCmd() *cobra.Command {
	cmd := groupCmd("handler", "Deploy, list, show and delete a solution's event handlers",
		`An event handler is a Lua script of a solution run for each event on its topics. A
topic is "<service>.<event>", such as demoexternalservice.event. A handler named
"<service>_<event>" (Murano's form) subscribes to "<service>.<event>" without --topic.
The solution comes from -s/--solution or SWITCHBOARD_SOLUTION.

To keep a whole folder of scripts in sync with the server, see "switchboard deploy".`)
	cmd.Aliases = []string{"handlers"}
	cmd.AddCommand(
		a.newHandlerDeployCmd(),
		a.newHandlerListCmd(),
		a.newHandlerGetCmd(),
		a.newHandlerDeleteCmd(),
	)
	return cmd
}

func (a *app) newHandlerDeployCmd() *cobra.Command {
	var (
		topics           []string
		attempts         int
		minWait, maxWait time.Duration
		maxInFlight      int
		orderBy          string
		retryOn          []string
	)
	cmd := &cobra.Command{
		Use:   "deploy NAME FILE",
		Short: "Create or replace one event handler from a Lua file",
		Long: `Create the event handler NAME with the Lua script in FILE, or replace it if it exists.
FILE "-" reads the script from standard input. Without --topic, a NAME of the form
"<service>_<event>" subscribes to "<service>.<event>"; --topic (repeatable) gives the
topics instead. A script that does not compile is reported as FILE:LINE with the
compiler's message.

--retry-attempts, --retry-min-wait and --retry-max-wait set how durable events' runs of
the handler are retried before they are dead-lettered, --retry-on which kinds of failure are
retried at all, and --max-in-flight how many of
its runs one server does at once. --order-by runs events of one key one at a time, in the
order they were stored (different keys side by side): the key is the event's topic,
subject, correlation_id, or a value in its data (data.device.id). Deploying replaces them
too: left out, they are the server's defaults.`,
		Example: `  switchboard handler deploy demoexternalservice_event event.lua -s demo
  switchboard handler deploy audit audit.lua -s demo --topic demoexternalservice.event --topic other.changed
  echo 'return true' | switchboard handler deploy demoexternalservice_event - -s demo
  switchboard handler deploy audit audit.lua -s demo --topic orders.created --retry-attempts 8 --retry-min-wait 100ms --retry-max-wait 30s
  switchboard handler deploy track track.lua -s demo --topic devices.reading --order-by data.device.id --max-in-flight 8`,
		Args: exactArgs("NAME", "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, t := range topics {
				if strings.TrimSpace(t) == "" {
					return usagef("--topic: empty; want <service>.<event>, such as demoexternalservice.event")
				}
			}
			sol, err := a.requireSolution()
			if err != nil {
				return err
			}
			script, err := a.readScript(args[1])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			in := apiclient.Handler{Name: args[0], Topics: topics, Script: script, MaxInFlight: maxInFlight, OrderBy: orderBy}
			if f := cmd.Flags(); f.Changed("retry-attempts") || f.Changed("retry-min-wait") || f.Changed("retry-max-wait") || f.Changed("retry-on") {
				in.Retry = &apiclient.RetryPolicy{Attempts: attempts, On: retryOn}
				if f.Changed("retry-min-wait") {
					in.Retry.MinWait = minWait.String()
				}
				if f.Changed("retry-max-wait") {
					in.Retry.MaxWait = maxWait.String()
				}
			}
			h, created, err := c.DeployHandler(cmd.Context(), sol, in)
			if err != nil {
				file := args[1]
				if file == "-" {
					file = "stdin"
				}
				return locateScriptError(err, file, 1, "handler "+args[0])
			}
			if a.jsonOutput() {
				return a.printJSON(struct {
					apiclient.Handler
					Created bool `json:"created"`
				}{h, created})
			}
			verb := "replaced"
			if created {
				verb = "created"
			}
			fmt.Fprintf(a.stdout, "%s handler %s on %s (version %d)\n", verb, h.Name, listOrDash(h.Topics), h.Version)
			return nil
		},
	}
	a.solutionFlag(cmd)
	cmd.Flags().StringArrayVar(&topics, "topic", nil, "a topic <service>.<event> the handler runs for, or a wildcard (orders.*, orders.>); repeat for several (default: from a NAME <service>_<event>)")
	cmd.Flags().IntVar(&attempts, "retry-attempts", 0, "runs of a durable event before it is dead-lettered, the first included (default 5)")
	cmd.Flags().DurationVar(&minWait, "retry-min-wait", 0, "wait before the first retry; later ones double it (default 1s)")
	cmd.Flags().DurationVar(&maxWait, "retry-max-wait", 0, "longest wait between retries (default 2m)")
	cmd.Flags().StringArrayVar(&retryOn, "retry-on", nil, "a kind of failure to retry (runtime, time, memory, steps, call depth, coroutines, server memory, canceled, internal, compile); repeat for several; others are dead-lettered at once (default: every kind)")
	cmd.Flags().IntVar(&maxInFlight, "max-in-flight", 0, "durable runs of this handler one server does at once (default 16)")
	cmd.Flags().StringVar(&orderBy, "order-by", "", "run events of one key in order: topic, subject, correlation_id or data.<path> (default: no order)")
	return cmd
}

func (a *app) newHandlerListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List a solution's event handlers",
		Long:    "List a solution's event handlers. With -o json the scripts are included.",
		Example: "  switchboard handler list -s demo\n  SWITCHBOARD_SOLUTION=demo switchboard handler list -o json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			items, err := c.ListHandlers(cmd.Context(), sol)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"items": items})
			}
			if len(items) == 0 {
				fmt.Fprintf(a.stdout, "solution %s has no handlers\n", sol)
				return nil
			}
			t := newTable(a.stdout)
			fmt.Fprintln(t, "NAME\tTOPICS\tVERSION\tUPDATED")
			for _, h := range items {
				fmt.Fprintf(t, "%s\t%s\t%d\t%s\n", h.Name, listOrDash(h.Topics), h.Version, formatTime(h.UpdatedAt))
			}
			return t.Flush()
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) newHandlerGetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Print an event handler's script",
		Long:  "Print the Lua script of an event handler; with -o json, the whole handler.",
		Example: `  switchboard handler get demoexternalservice_event -s demo
  switchboard handler get demoexternalservice_event -s demo > event.lua`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			h, err := c.GetHandler(cmd.Context(), sol, args[0])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(h)
			}
			// Verbatim, so that "handler get … > f.lua" and "handler deploy … f.lua" round-trip.
			_, err = io.WriteString(a.stdout, h.Script)
			return err
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) newHandlerDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete an event handler",
		Example: "  switchboard handler delete demoexternalservice_event -s demo",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			if err := c.DeleteHandler(cmd.Context(), sol, args[0]); err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"name": args[0], "deleted": true})
			}
			fmt.Fprintf(a.stdout, "deleted handler %s\n", args[0])
			return nil
		},
	}
	a.solutionFlag(cmd)
	return cmd
}
