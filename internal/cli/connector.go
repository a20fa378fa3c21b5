package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

func (a *app) newConnectorCmd() *cobra.Command {
	cmd := groupCmd("connector", "Create, list, show, update, pause, resume and delete a solution's connectors",
		`A connector brings messages from outside the server — a schedule, a broker, a webhook —
into a solution as events on one topic, where the solution's handlers run for them. A
connector has a NAME, a --type (see "switchboard connector types"), the --topic its events
are published on, and a --config checked against its type's schema; secrets in the config
are stored but never shown back. One server instance runs each connector and, should it stop,
another takes it over. "connector list" and "connector show" tell how each is doing.
With --direction out, a connector goes the other way: the solution's scripts publish to its
broker with Outbound.publish{connector=NAME, …}; it has no topic, and its --config follows the
type's outbound schema.
The solution comes from -s/--solution or SWITCHBOARD_SOLUTION.`)
	cmd.Aliases = []string{"connectors"}
	cmd.AddCommand(
		a.newConnectorTypesCmd(),
		a.newConnectorPutCmd(true),
		a.newConnectorListCmd(),
		a.newConnectorShowCmd(),
		a.newConnectorPutCmd(false),
		a.newConnectorDeleteCmd(),
		a.newConnectorPauseCmd(true),
		a.newConnectorPauseCmd(false),
	)
	return cmd
}

func (a *app) newConnectorTypesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "types [TYPE]",
		Short: "List the connector types, or show one's config schema",
		Long: `List the connector types the server runs. With TYPE, show that type's description, the
JSON Schema its --config must match and which of its fields are secrets. With -o json, every
type with its schema.`,
		Example: "  switchboard connector types\n  switchboard connector types cron",
		Args:    rangeArgs(0, "TYPE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			items, err := c.ConnectorTypes(cmd.Context())
			if err != nil {
				return err
			}
			if len(args) == 1 {
				for _, k := range items {
					if k.Type != args[0] {
						continue
					}
					if a.jsonOutput() {
						return a.printJSON(k)
					}
					fmt.Fprintf(a.stdout, "%s: %s\n", k.Type, k.Description)
					if len(k.Secrets) > 0 {
						fmt.Fprintf(a.stdout, "secrets: %s\n", strings.Join(k.Secrets, ", "))
					}
					if k.Inbound {
						fmt.Fprintln(a.stdout, "inbound: receives on the server's own listeners, on every instance")
					}
					if !k.OutOnly { // its only config is the outbound one, below
						fmt.Fprintf(a.stdout, "config schema:\n%s\n", indentJSON(k.Schema))
					}
					if o := k.Outbound; o != nil {
						fmt.Fprintf(a.stdout, "outbound (--direction out): %s\n", o.Description)
						fmt.Fprintf(a.stdout, "Outbound.publish arguments: %s\n", strings.Join(o.Arguments, ", "))
						if len(o.Secrets) > 0 {
							fmt.Fprintf(a.stdout, "outbound secrets: %s\n", strings.Join(o.Secrets, ", "))
						}
						fmt.Fprintf(a.stdout, "outbound config schema:\n%s\n", indentJSON(o.Schema))
					}
					return nil
				}
				return fmt.Errorf("no connector type %q; want one of %s", args[0], typeNames(items))
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"items": items})
			}
			t := newTable(a.stdout)
			fmt.Fprintln(t, "TYPE\tDIRECTIONS\tSECRETS\tDESCRIPTION")
			for _, k := range items {
				dirs := "in"
				switch {
				case k.OutOnly:
					dirs = "out"
				case k.Outbound != nil:
					dirs = "in, out"
				}
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", k.Type, dirs, listOrDash(k.Secrets), k.Description)
			}
			return t.Flush()
		},
	}
}

// indentJSON is raw indented, or as it is when it is not JSON.
func indentJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

func typeNames(items []apiclient.ConnectorType) string {
	var names []string
	for _, k := range items {
		names = append(names, k.Type)
	}
	return strings.Join(names, ", ")
}

// newConnectorPutCmd is "connector create" (create) or "connector update".
func (a *app) newConnectorPutCmd(create bool) *cobra.Command {
	var typ, topic, config, direction string
	var maxPending int
	cmd := &cobra.Command{
		Use:   "create NAME --type TYPE (--topic TOPIC | --direction out) [--config JSON] [--max-pending N]",
		Short: "Create a connector",
		Long: `Create the connector NAME of --type TYPE, publishing its events on --topic TOPIC.
--config is the type's config: JSON text, @FILE for a file's JSON, or "-" for standard input
(default {}); "switchboard connector types TYPE" shows what it takes. A config the type refuses
is reported with the field at fault, such as config.schedule. A connector of that name already
there is an error: "connector update" replaces one. --max-pending is how many events of the
topic may wait for its handlers before the connector stops taking messages from its source
(default: the server's --connector-max-pending).
With --direction out, the connector is one the solution's scripts publish through
(Outbound.publish{connector=NAME, …}): it takes no --topic nor --max-pending, and --config
follows the type's outbound schema.`,
		Example: `  switchboard connector create tick --type cron --topic ticks.minute --config '{"schedule": "@every 1m"}' -s demo
  switchboard connector create nightly --type cron --topic reports.nightly --config @nightly.json -s demo
  switchboard connector create alerts --type mqtt --direction out --config '{"url": "mqtt://broker:1883", "topic": "alerts"}' -s demo`,
		Args: exactArgs("NAME"),
	}
	if !create {
		cmd.Use = "update NAME --config JSON [--type TYPE] [--topic TOPIC] [--direction in|out] [--max-pending N]"
		cmd.Short = "Replace a connector's config, type, topic, direction or max-pending"
		cmd.Long = `Replace the config of the connector NAME with --config (JSON text, @FILE or "-" for standard
input) and, when given, its --type, --topic, --direction and --max-pending (by default they
stay; --max-pending 0 goes back to the server's bound). The config is replaced whole, secrets
included: the server never shows them back, so give them again. A paused connector stays
paused; a running one starts again with what was given, and an outbound one's connections are
opened again with it.`
		cmd.Example = `  switchboard connector update tick --config '{"schedule": "*/30 * * * * *"}' -s demo
  switchboard connector update tick --topic ticks.half-minute --config @tick.json -s demo`
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f := cmd.Flags()
		if create && !f.Changed("type") {
			return usagef("--type: required; \"switchboard connector types\" lists them")
		}
		if f.Changed("direction") && direction != "in" && direction != "out" {
			return usagef("--direction: want in or out")
		}
		if create && !f.Changed("topic") && direction != "out" {
			return usagef("--topic: required (the topic its events are published on, such as ticks.minute), or --direction out for a connector scripts publish through")
		}
		if direction == "out" && topic != "" {
			return usagef("--topic: an outbound connector (--direction out) has none: scripts say where each message goes")
		}
		if !create && !f.Changed("config") {
			return usagef("--config: required; it replaces the connector's whole config")
		}
		spec := apiclient.ConnectorSpec{Name: args[0], Type: typ, Topic: topic, Direction: direction, MaxPending: maxPending}
		if f.Changed("config") {
			text, err := a.readText("--config", config)
			if err != nil {
				return err
			}
			if !json.Valid([]byte(text)) {
				return usagef("--config: not JSON; want an object such as '{\"schedule\": \"@every 1m\"}'")
			}
			spec.Config = json.RawMessage(text)
		}
		sol, c, err := a.solutionClient()
		if err != nil {
			return err
		}
		var out apiclient.Connector
		if create {
			out, err = c.CreateConnector(cmd.Context(), sol, spec)
		} else {
			if spec.Type == "" || spec.Topic == "" && spec.Direction != "out" || !f.Changed("max-pending") {
				cur, err := c.GetConnector(cmd.Context(), sol, args[0])
				if err != nil {
					return err
				}
				spec.Type = either(spec.Type, cur.Type)
				if either(spec.Direction, cur.Direction) != "out" {
					spec.Topic = either(spec.Topic, cur.Topic)
					if !f.Changed("max-pending") {
						spec.MaxPending = cur.MaxPending
					}
				}
			}
			out, err = c.UpdateConnector(cmd.Context(), sol, args[0], spec)
		}
		if err != nil {
			return err
		}
		if a.jsonOutput() {
			return a.printJSON(out)
		}
		verb := "updated"
		if create {
			verb = "created"
		}
		if out.Direction == "out" {
			fmt.Fprintf(a.stdout, "%s connector %s (%s, outbound, version %d)\n", verb, out.Name, out.Type, out.Version)
			return nil
		}
		fmt.Fprintf(a.stdout, "%s connector %s (%s on %s, version %d)\n", verb, out.Name, out.Type, out.Topic, out.Version)
		return nil
	}
	a.solutionFlag(cmd)
	cmd.Flags().StringVar(&typ, "type", "", `the connector's type, such as cron ("switchboard connector types" lists them)`)
	cmd.Flags().StringVar(&topic, "topic", "", "the topic its events are published on, such as ticks.minute")
	dirHelp := `in (a source's messages become events on --topic; the default) or out (scripts publish through it)`
	if !create {
		dirHelp = `in or out; by default the connector's stays`
	}
	cmd.Flags().StringVar(&direction, "direction", "", dirHelp)
	cmd.Flags().StringVar(&config, "config", "", `the type's config: JSON text, @FILE, or "-" for standard input`)
	cmd.Flags().IntVar(&maxPending, "max-pending", 0, "events of the topic that may wait for handlers before the connector stops taking messages (1 to 1000000; 0: the server's bound)")
	return cmd
}

// either is a, or b when a is empty.
func either(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (a *app) newConnectorListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List a solution's connectors and how each is doing",
		Long: `List a solution's connectors: type, direction, topic, state (connecting, running,
backing-off, paused, failed or pending; "running (held)" while its handlers are behind and it
takes nothing from its source), the messages the instance running each has received,
published as events and rejected, and its lag (messages its source holds that it has not taken
yet; - when the source does not tell). An outbound connector (direction out) is ready, failing
or paused, with the publishes that went out and failed on the instance answering. With -o
json, each connector whole, with its config (secrets shown as "(set)") and status.`,
		Example: "  switchboard connector list -s demo\n  switchboard connector list -s demo -o json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			items, err := c.ListConnectors(cmd.Context(), sol)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"items": items})
			}
			if len(items) == 0 {
				fmt.Fprintf(a.stdout, "solution %s has no connectors\n", sol)
				return nil
			}
			t := newTable(a.stdout)
			fmt.Fprintln(t, "NAME\tTYPE\tDIRECTION\tTOPIC\tSTATE\tRECEIVED\tPUBLISHED\tREJECTED\tFAILED\tLAG")
			for _, k := range items {
				st := k.Status
				if k.Direction == "out" {
					fmt.Fprintf(t, "%s\t%s\tout\t-\t%s\t-\t%d\t-\t%d\t-\n", k.Name, k.Type, st.State, st.Published, st.Failed)
					continue
				}
				fmt.Fprintf(t, "%s\t%s\tin\t%s\t%s\t%d\t%d\t%d\t-\t%s\n", k.Name, k.Type, k.Topic, connectorState(st), st.Received, st.Published, st.Rejected, countOrDash(st.Lag))
			}
			return t.Flush()
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) newConnectorShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "show NAME",
		Aliases: []string{"get"},
		Short:   "Show a connector: its config and how it is doing",
		Long: `Show the connector NAME: its type, direction, topic and config (secrets shown as "(set)"),
its state, the instance running it, its last error, the messages received, published and
rejected (and dropped, for core NATS), its lag (messages its source holds that it has not
taken yet), and the events of its topic waiting for handlers against the bound it is held at
("held" says why, while it takes nothing from its source). For an outbound connector, the
publishes that went out and failed on the instance answering, and the last error there.`,
		Example: "  switchboard connector show tick -s demo\n  switchboard connector show tick -s demo -o json",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			k, err := c.GetConnector(cmd.Context(), sol, args[0])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(k)
			}
			st := k.Status
			t := newTable(a.stdout)
			fmt.Fprintf(t, "name:\t%s\n", k.Name)
			fmt.Fprintf(t, "type:\t%s\n", k.Type)
			fmt.Fprintf(t, "direction:\t%s\n", either(k.Direction, "in"))
			if k.Direction != "out" {
				fmt.Fprintf(t, "topic:\t%s\n", k.Topic)
			}
			fmt.Fprintf(t, "config:\t%s\n", compactJSON(k.Config))
			switch {
			case k.Direction == "out":
			case k.MaxPending > 0:
				fmt.Fprintf(t, "max pending:\t%d\n", k.MaxPending)
			default:
				fmt.Fprintln(t, "max pending:\tthe server's bound")
			}
			fmt.Fprintf(t, "state:\t%s\n", st.State)
			fmt.Fprintf(t, "since:\t%s\n", formatTime(st.Since))
			fmt.Fprintf(t, "instance:\t%s\n", either(st.Instance, "-"))
			fmt.Fprintf(t, "last error:\t%s\n", either(st.LastError, "-"))
			if k.Direction == "out" {
				fmt.Fprintf(t, "published:\t%d\n", st.Published)
				fmt.Fprintf(t, "failed:\t%d\n", st.Failed)
			} else {
				fmt.Fprintf(t, "received:\t%d\n", st.Received)
				fmt.Fprintf(t, "published:\t%d\n", st.Published)
				fmt.Fprintf(t, "rejected:\t%d\n", st.Rejected)
				if st.Dropped > 0 {
					fmt.Fprintf(t, "dropped:\t%d\n", st.Dropped)
				}
				fmt.Fprintf(t, "lag:\t%s\n", countOrDash(st.Lag))
				if st.MaxPending > 0 {
					fmt.Fprintf(t, "pending:\t%s of %d\n", countOrDash(st.Pending), st.MaxPending)
				}
				if st.Held {
					fmt.Fprintf(t, "held:\t%s\n", st.HeldReason)
				}
			}
			fmt.Fprintf(t, "version:\t%d\n", k.Version)
			fmt.Fprintf(t, "updated:\t%s\n", formatTime(k.UpdatedAt))
			return t.Flush()
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

// connectorState is a status's state, "running (held)" while its handlers are behind.
func connectorState(st apiclient.ConnectorStatus) string {
	if st.Held {
		return st.State + " (held)"
	}
	return st.State
}

// countOrDash is *n, or "-" when unknown.
func countOrDash(n *uint64) string {
	if n == nil {
		return "-"
	}
	return strconv.FormatUint(*n, 10)
}

// compactJSON is raw on one line ("{}" when empty).
func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil || b.Len() == 0 {
		return either(string(raw), "{}")
	}
	return b.String()
}

func (a *app) newConnectorDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a connector",
		Long:    "Delete the connector NAME: it stops wherever it runs. Events it published stay.",
		Example: "  switchboard connector delete tick -s demo",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			if err := c.DeleteConnector(cmd.Context(), sol, args[0]); err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"name": args[0], "deleted": true})
			}
			fmt.Fprintf(a.stdout, "deleted connector %s\n", args[0])
			return nil
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

// newConnectorPauseCmd is "connector pause" (pause) or "connector resume".
func (a *app) newConnectorPauseCmd(pause bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "pause NAME",
		Short:   "Pause a connector, keeping it",
		Long:    `Pause the connector NAME: it stops wherever it runs and is kept, config and all, until "connector resume".`,
		Example: "  switchboard connector pause tick -s demo",
		Args:    exactArgs("NAME"),
	}
	if !pause {
		cmd.Use = "resume NAME"
		cmd.Short = "Resume a paused connector"
		cmd.Long = "Resume the paused connector NAME: an instance of the server takes it and runs it again."
		cmd.Example = "  switchboard connector resume tick -s demo"
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		sol, c, err := a.solutionClient()
		if err != nil {
			return err
		}
		var k apiclient.Connector
		if pause {
			k, err = c.PauseConnector(cmd.Context(), sol, args[0])
		} else {
			k, err = c.ResumeConnector(cmd.Context(), sol, args[0])
		}
		if err != nil {
			return err
		}
		if a.jsonOutput() {
			return a.printJSON(k)
		}
		verb := "resumed"
		if pause {
			verb = "paused"
		}
		fmt.Fprintf(a.stdout, "%s connector %s\n", verb, k.Name)
		return nil
	}
	a.solutionFlag(cmd)
	return cmd
}
