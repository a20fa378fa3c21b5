package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

const flowFileExample = `  description: blinks and reads
  instances:
    - name: Blinker                 # its SubmitAction destination, unique in the solution
      service: Blink
      version: "1"                  # "" the newest, 1 the newest of major 1, 1.2 exactly
      node: hub                     # a node's name (hub: the hub, lua only), or
      static: {pin: 4}
      security: {api_key: s3cret}   # never shown again; "(set)" keeps the stored value
      upstream: plant.blinks        # the topic its SubmitMessage publishes to
    - name: ReadAll
      service: ReadGPIO
      tag: gpio                     # every node tagged gpio runs one`

func (a *app) newFlowCmd() *cobra.Command {
	cmd := groupCmd("flow", "Manage a solution's flows of hosted service instances",
		`A flow lists service instances: a version of a hosted service, its property values, the node
(or every node with a tag) it runs on, and the topic its SubmitMessage publishes to.
Security values are stored and never shown: answers show "(set)". The solution comes from
-s/--solution or SWITCHBOARD_SOLUTION.`)
	cmd.AddCommand(a.newFlowPutCmd(true), a.newFlowPutCmd(false), a.newFlowListCmd(), a.newFlowShowCmd(), a.newFlowDeleteCmd())
	return cmd
}

// flowFileWant says what a flow file holds, in messages.
const flowFileWant = "want description and instances, a list of {name, service, version, node or tag, static, security, upstream, disabled}"

// flowFile is a flow as a file holds it; what "flow show -o json" adds is read and ignored,
// so its output can be edited and sent back.
type flowFile struct {
	Name        string                   `json:"name"`
	Description string                   `json:"description"`
	Instances   []apiclient.FlowInstance `json:"instances"`
	Solution    json.RawMessage          `json:"solution"`
	CreatedAt   json.RawMessage          `json:"created_at"`
	UpdatedAt   json.RawMessage          `json:"updated_at"`
}

func (a *app) newFlowPutCmd(create bool) *cobra.Command {
	var file string
	use, short, done := "create", "Create a flow from a YAML or JSON file", "created"
	long := `Create the flow NAME from FILE (YAML or JSON):

` + flowFileExample + `

Each instance gives node or tag. Values are checked against the pinned version's property
definitions; what is wrong is named (instances[0].static.pin).`
	if !create {
		use, short, done = "update", "Replace a flow from a YAML or JSON file", "updated"
		long = `Replace the flow NAME with FILE (YAML or JSON, as for "flow create"). Only instances
whose version, properties, node or upstream change restart. A security value written as
"(set)", or left out, keeps the value stored, so "flow show NAME -o json" can be edited and
sent back.`
	}
	cmd := &cobra.Command{
		Use:     use + " NAME --file FILE",
		Short:   short,
		Long:    long,
		Example: fmt.Sprintf("  switchboard flow %s lights --file lights.yaml -s plant", use),
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return usagef("--file: required (a YAML or JSON file of the flow's description and instances)")
			}
			var ff flowFile
			if err := readStrict(file, "--file", &ff, flowFileWant); err != nil {
				return err
			}
			if ff.Name != "" && ff.Name != args[0] {
				return usagef("--file %s: names flow %s, not %s", file, ff.Name, args[0])
			}
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			f := apiclient.Flow{Name: args[0], Description: ff.Description, Instances: ff.Instances}
			if f.Instances == nil {
				f.Instances = []apiclient.FlowInstance{}
			}
			if create {
				f, err = c.CreateFlow(cmd.Context(), sol, f)
			} else {
				f, err = c.UpdateFlow(cmd.Context(), sol, f)
			}
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(f)
			}
			noun := "instances"
			if len(f.Instances) == 1 {
				noun = "instance"
			}
			fmt.Fprintf(a.stdout, "%s flow %s (%d %s)\n", done, f.Name, len(f.Instances), noun)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "YAML or JSON file of the flow")
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) newFlowListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the solution's flows",
		Example: "  switchboard flow list -s plant",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			items, err := c.ListFlows(cmd.Context(), sol)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"items": items})
			}
			t := newTable(a.stdout)
			fmt.Fprintln(t, "NAME\tINSTANCES\tUPDATED\tDESCRIPTION")
			for _, f := range items {
				fmt.Fprintf(t, "%s\t%d\t%s\t%s\n", f.Name, len(f.Instances), formatTime(f.UpdatedAt), f.Description)
			}
			return t.Flush()
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) newFlowShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a flow with its instances",
		Long: `Show the flow NAME: each instance's service and version pin, where it runs, its
upstream topic and property values (security values as "(set)"). With -o json the output
can be edited and sent back with "flow update".`,
		Example: `  switchboard flow show lights -s plant
  switchboard flow show lights -o json -s plant > lights.json`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			f, err := c.GetFlow(cmd.Context(), sol, args[0])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(f)
			}
			fmt.Fprintf(a.stdout, "flow %s", f.Name)
			if f.Description != "" {
				fmt.Fprintf(a.stdout, ": %s", f.Description)
			}
			fmt.Fprintln(a.stdout)
			t := newTable(a.stdout)
			fmt.Fprintln(t, "INSTANCE\tSERVICE\tVERSION\tRUNS ON\tUPSTREAM\tPROPERTIES")
			for _, in := range f.Instances {
				where := "node " + in.Node
				if in.Tag != "" {
					where = "tag " + in.Tag
				}
				if in.Disabled {
					where += " (disabled)"
				}
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\n", in.Name, in.Service, cmpOrStr(in.Version, "newest"), where, cmpOrStr(in.Upstream, "-"), propertyValues(in.Static, in.Security))
			}
			return t.Flush()
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

// propertyValues is name=value for static values and name=(set) for security ones.
func propertyValues(static map[string]any, security map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(static)) {
		out = append(out, fmt.Sprintf("%s=%v", k, static[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(security)) {
		out = append(out, k+"=(set)")
	}
	return listOrDash(out)
}

func (a *app) newFlowDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a flow; its instances stop",
		Example: "  switchboard flow delete lights -s plant",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			if err := c.DeleteFlow(cmd.Context(), sol, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "deleted flow %s\n", args[0])
			return nil
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) newNodeCmd() *cobra.Command {
	cmd := groupCmd("node", "Manage a solution's nodes, where hosted services run",
		`A node is a machine running an agent that runs a solution's hosted service instances; the
hub itself is the node "hub", for lua services that need no device. A node is created with
tags (flows place instances on a node by name or on every node with a tag) and a
provisioning token, shown once, that the agent exchanges for its credential on its first
sign-in. The solution comes from -s/--solution or SWITCHBOARD_SOLUTION.`)
	cmd.AddCommand(a.newNodeCreateCmd(), a.newNodeListCmd(), a.newNodeShowCmd(), a.newNodeAssignmentCmd(), a.newNodeDeleteCmd(),
		a.newNodeActionCmd("restart", "Restart every instance on a node", "restarted"),
		a.newNodeActionCmd("disable", "Disable a node: its instances stop", "disabled"),
		a.newNodeActionCmd("enable", "Enable a disabled node", "enabled"),
		a.newNodeActionCmd("token", "Issue a new provisioning token, revoking the node's credential", "provisioned again"))
	return cmd
}

func (a *app) newNodeCreateCmd() *cobra.Command {
	var tags []string
	cmd := &cobra.Command{
		Use:   "create NAME [--tag T]...",
		Short: "Register a node; prints its provisioning token once",
		Long: `Register the node NAME (lower-case letters, digits, '_' and '-') with its tags. Its
provisioning token is printed this once: give it to the node's agent, which exchanges it
for its credential on its first sign-in.`,
		Example: `  switchboard node create pi-kitchen --tag gpio --tag kitchen -s plant`,
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			n, err := c.CreateNode(cmd.Context(), sol, args[0], tags)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(n)
			}
			fmt.Fprintf(a.stdout, "created node %s\nprovisioning token (shown once): %s\n", n.Name, n.Token)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&tags, "tag", nil, "a tag of the node (repeat for more)")
	a.solutionFlag(cmd)
	return cmd
}

func nodeOnline(n apiclient.Node) string {
	switch {
	case n.Disabled:
		return "disabled"
	case n.Online:
		return "online"
	}
	return "offline"
}

func (a *app) newNodeListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the solution's nodes with their state, the hub among them",
		Example: "  switchboard node list -s plant",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			items, err := c.ListNodes(cmd.Context(), sol)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"items": items})
			}
			t := newTable(a.stdout)
			fmt.Fprintln(t, "NAME\tSTATE\tTAGS\tINSTANCES\tLAST SEEN\tAGENT")
			for _, n := range items {
				fmt.Fprintf(t, "%s\t%s\t%s\t%d\t%s\t%s\n", n.Name, nodeOnline(n), listOrDash(n.Tags), len(n.Instances), formatTime(n.LastSeen), cmpOrStr(n.AgentVersion, "-"))
			}
			return t.Flush()
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) newNodeShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "show NAME",
		Short:   "Show a node: its state, tags and the instances it reported",
		Example: "  switchboard node show pi-kitchen -s plant",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			n, err := c.GetNode(cmd.Context(), sol, args[0])
			if err != nil {
				return err
			}
			return a.printNode(n)
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) printNode(n apiclient.Node) error {
	if a.jsonOutput() {
		return a.printJSON(n)
	}
	signin := "waits for its first sign-in"
	switch {
	case n.Hub:
		signin = "the hub itself"
	case n.SignedIn:
		signin = "signed in"
	}
	t := newTable(a.stdout)
	fmt.Fprintf(t, "name:\t%s\nstate:\t%s\ntags:\t%s\ngeneration:\t%d\nsign-in:\t%s\nlast seen:\t%s\nagent:\t%s\n",
		n.Name, nodeOnline(n), listOrDash(n.Tags), n.Generation, signin, formatTime(n.LastSeen), cmpOrStr(n.AgentVersion, "-"))
	if err := t.Flush(); err != nil {
		return err
	}
	if len(n.Instances) == 0 {
		return nil
	}
	fmt.Fprintln(a.stdout)
	t = newTable(a.stdout)
	fmt.Fprintln(t, "INSTANCE\tSERVICE\tVERSION\tSTATE")
	for _, in := range n.Instances {
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", in.Name, in.Service, in.Version, in.State)
	}
	return t.Flush()
}

// newNodeActionCmd is restart, disable, enable or token: a change of one node.
func (a *app) newNodeActionCmd(use, short, done string) *cobra.Command {
	cmd := &cobra.Command{
		Use:     use + " NAME",
		Short:   short,
		Example: fmt.Sprintf("  switchboard node %s pi-kitchen -s plant", use),
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			var n apiclient.Node
			switch use {
			case "restart":
				n, err = c.RestartNode(cmd.Context(), sol, args[0])
			case "token":
				n, err = c.NodeToken(cmd.Context(), sol, args[0])
			default:
				disabled := use == "disable"
				n, err = c.UpdateNode(cmd.Context(), sol, args[0], apiclient.NodeChange{Disabled: &disabled})
			}
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(n)
			}
			fmt.Fprintf(a.stdout, "node %s %s", n.Name, done)
			switch use {
			case "restart":
				fmt.Fprintf(a.stdout, " (generation %d)", n.Generation)
			case "token":
				fmt.Fprintf(a.stdout, "; its credential is revoked\nprovisioning token (shown once): %s", n.Token)
			}
			fmt.Fprintln(a.stdout)
			return nil
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) newNodeAssignmentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "assignment NAME",
		Short: "Show what a node is to run",
		Long: `Show the instances node NAME is to run: those of flows placed on it by name or by one
of its tags, not disabled, with the version each pin resolves to now and the static values
with defaults applied (security values as "(set)"). HASH changes when the instance must
restart.`,
		Example: "  switchboard node assignment pi-kitchen -s plant",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			items, err := c.NodeAssignment(cmd.Context(), sol, args[0])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"items": items})
			}
			t := newTable(a.stdout)
			fmt.Fprintln(t, "FLOW\tINSTANCE\tSERVICE\tKIND\tVERSION\tUPSTREAM\tPROPERTIES\tHASH")
			for _, as := range items {
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", as.Flow, as.Instance, as.Service, as.Kind, as.Version, cmpOrStr(as.Upstream, "-"), propertyValues(as.Static, as.Security), as.Hash[:min(12, len(as.Hash))])
			}
			return t.Flush()
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) newNodeDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a node (not one a flow names)",
		Example: "  switchboard node delete pi-kitchen -s plant",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			if err := c.DeleteNode(cmd.Context(), sol, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "deleted node %s\n", args[0])
			return nil
		},
	}
	a.solutionFlag(cmd)
	return cmd
}
