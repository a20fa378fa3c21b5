package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

func (a *app) newServiceCmd() *cobra.Command {
	cmd := groupCmd("service", "List, show and delete the services of the hub's catalog",
		`The catalog holds the services solutions may add and call from their scripts: core
services built into the hub and dynamic services that registered with it. A service's
events are handled by a solution's event handlers (see "switchboard handler").

To add a service to a solution, see "switchboard solution add-service". Deleting a
service needs the admin token.`)
	cmd.Aliases = []string{"services"}
	cmd.AddCommand(
		a.newServiceListCmd(),
		a.newServiceShowCmd(),
		a.newServiceDeleteCmd(),
	)
	return cmd
}

// listOrDash joins items with ", ", or is "-" for none.
func listOrDash(items []string) string {
	if len(items) == 0 {
		return "-"
	}
	return strings.Join(items, ", ")
}

// healthText is a service's health for people: "up", "down: connection refused".
func healthText(h apiclient.ServiceHealth) string {
	s := h.Status
	if s == "" {
		s = apiclient.HealthUnknown
	}
	if h.Error != "" {
		s += ": " + h.Error
	}
	return s
}

// versionText is a version number, or "-" for none.
func versionText(v int64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatInt(v, 10)
}

func (a *app) newServiceListCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the services of the catalog",
		Long:    "List the services of the catalog with their health, operations and events.",
		Example: "  switchboard service list\n  switchboard service list -o json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			items, err := c.ListServices(cmd.Context())
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"items": items})
			}
			if len(items) == 0 {
				fmt.Fprintln(a.stdout, "no services")
				return nil
			}
			t := newTable(a.stdout)
			fmt.Fprintln(t, "NAME\tKIND\tHEALTH\tVERSION\tOPERATIONS\tEVENTS")
			for _, s := range items {
				health := s.Health.Status
				if health == "" {
					health = apiclient.HealthUnknown
				}
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%d\t%s\n", s.Name, s.Kind, health, versionText(s.Version), len(s.Operations), listOrDash(s.Events))
			}
			return t.Flush()
		},
	}
}

func (a *app) newServiceShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "show NAME",
		Aliases: []string{"get"},
		Short:   "Show a service: what adding it takes, its operations and examples",
		Long: `Show a service: its kind, health, version, tags and events, and for a dynamic service
what a solution needs to add it: its configuration parameters (type, whether required or
secret, default, choices) and how the hub authenticates to it (the schemes and the parameters
holding their credentials; no value is ever shown), then its operations with their
descriptions and Lua examples. With -o json, the whole service as the API returns it, its
marketplace view and OpenAPI document included.`,
		Example: `  switchboard service show demoexternalservice
  switchboard service show demoexternalservice -o json`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			s, err := c.GetService(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(s)
			}
			t := newTable(a.stdout)
			fmt.Fprintf(t, "name:\t%s\n", s.Name)
			fmt.Fprintf(t, "kind:\t%s\n", s.Kind)
			if s.Description != "" {
				fmt.Fprintf(t, "description:\t%s\n", s.Description)
			}
			fmt.Fprintf(t, "health:\t%s\n", healthText(s.Health))
			fmt.Fprintf(t, "checked:\t%s\n", formatTime(s.Health.CheckedAt))
			fmt.Fprintf(t, "version:\t%s\n", versionText(s.Version))
			if s.BaseURL != "" {
				fmt.Fprintf(t, "base url:\t%s\n", s.BaseURL)
			}
			fmt.Fprintf(t, "events:\t%s\n", listOrDash(s.Events))
			if m := s.Marketplace; m != nil {
				tags := make([]string, len(m.Tags))
				for i, tag := range m.Tags {
					tags[i] = tag.Name
				}
				fmt.Fprintf(t, "tags:\t%s\n", listOrDash(tags))
			}
			if err := t.Flush(); err != nil {
				return err
			}
			if s.Marketplace != nil {
				return writeMarketplace(a.stdout, s.Marketplace)
			}
			if len(s.Operations) == 0 {
				fmt.Fprintln(a.stdout, "\nno operations")
				return nil
			}
			fmt.Fprintln(a.stdout)
			t = newTable(a.stdout)
			fmt.Fprintln(t, "OPERATION\tDESCRIPTION")
			for _, op := range s.Operations {
				desc := op.Description
				if desc == "" {
					desc = "-"
				}
				fmt.Fprintf(t, "%s\t%s\n", op.Name, desc)
			}
			return t.Flush()
		},
	}
}

func (a *app) newServiceDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a service from the catalog",
		Long:    "Delete a service from the catalog. Needs the admin token.",
		Example: "  switchboard service delete demoexternalservice",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.DeleteService(cmd.Context(), args[0]); err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"name": args[0], "deleted": true})
			}
			fmt.Fprintf(a.stdout, "deleted service %s\n", args[0])
			return nil
		},
	}
}
