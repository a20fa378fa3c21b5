package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/hosted/agent"
	"github.com/switchboardhq/switchboard/internal/hub"
)

func (a *app) newAgentCmd() *cobra.Command {
	var hubURL, node, python, hubCA string
	var stopDeadline time.Duration
	cmd := &cobra.Command{
		Use:   "agent --hub URL --node NAME --token T --data DIR -s SOLUTION",
		Short: "Run an edge node of a solution: its assigned hosted services, online or not",
		Long: `Run node NAME of a solution on this machine: sign in to the hub at --hub (the first time,
with the node's provisioning token, which "switchboard node create" printed; the credential it
is exchanged for is kept in --data), run the hosted services the solution's flows assign to
the node, and send what they produce to the hub. The node runs its own embedded NATS server,
a leaf node of the hub's (the hub must be started with --leaf-listen): while the hub cannot
be reached, the services keep running (after a restart of the agent too, from its own copy)
and what they send is kept, in order, until the hub takes it. Give the agent a --data folder
of its own. It runs until SIGINT or SIGTERM, then stops each service (its Stop, killed past
--stop-deadline).

Python services run under python3 with Switchboard's base_service.py (class CustomService);
process services are executables speaking the same protocol (docs/hosted-services.md).`,
		Example: `  switchboard agent --hub http://hub.example.com:8080 -s plant --node pi-1 --token sbp_… --data /var/lib/switchboard-agent
  switchboard agent --hub http://127.0.0.1:8080 -s plant --node pi-1 --data ./agent   # later starts: signed in already`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			token := ""
			if cmd.Flags().Changed("token") {
				token = a.token // not SWITCHBOARD_TOKEN: that is an API token, not the node's
			} else if v, ok := a.getenv("SWITCHBOARD_NODE_TOKEN"); ok {
				token = v
			}
			if hubURL == "" {
				hubURL = a.server
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			err := agent.Run(ctx, agent.Config{Hub: hubURL, Solution: a.solution, Node: node, Token: token, DataDir: a.dataDir,
				HubCA: hubCA, Python: python, StopDeadline: stopDeadline, Logger: hub.NewLogger("info", "text"), Version: currentVersion()})
			if err != nil && ctx.Err() == nil {
				return err
			}
			if err != nil && err != context.Canceled {
				return fmt.Errorf("agent: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&hubURL, "hub", "", "base URL of the hub, where the node signs in (default: --server)")
	cmd.Flags().StringVar(&node, "node", "", "the node's name, as created with switchboard node create")
	cmd.Flags().StringVar(&python, "python", "python3", "the interpreter of python services")
	cmd.Flags().StringVar(&hubCA, "hub-ca", "", "PEM file of the certificates to trust the hub's HTTPS and leaf TLS under (default: the system's)")
	cmd.Flags().DurationVar(&stopDeadline, "stop-deadline", 10*time.Second, "how long a service's Stop may take before it is killed")
	a.solutionFlag(cmd)
	return cmd
}
