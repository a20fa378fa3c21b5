package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

func (a *app) newAutomationCmd() *cobra.Command {
	cmd := groupCmd("automation", "Invoke Kaa automations (23/AIP) for a solution",
		`An automation invocation is a Kaa AutomationInvocation record (raw binary Avro) published
on NATS at kaa.v1.events.<kaa-instance-name>.service.automation.<type>, with the solution as
its tenantId. Whichever executor subscribes runs it: Switchboard's own runs the handlers of
topic automation.<type> in the solution; Kaa's services run theirs. See
docs/kaa-automations.md. The solution comes from -s/--solution or SWITCHBOARD_SOLUTION.`)
	cmd.Aliases = []string{"automations"}
	cmd.AddCommand(a.newAutomationInvokeCmd())
	return cmd
}

func (a *app) newAutomationInvokeCmd() *cobra.Command {
	var (
		timeout     time.Duration
		correlation string
		contentType string
	)
	cmd := &cobra.Command{
		Use:   "invoke TYPE [PAYLOAD]",
		Short: "Publish one automation invocation",
		Long: `Publish an AutomationInvocation of automation type TYPE for the solution. PAYLOAD is its
payload, sent as it is: text, @FILE for a file's bytes, or "-" for standard input; without
it the payload is null. Kaa's email-notification takes JSON: {"recipient", "sender",
"subject", "message"}. The invocation is fire-and-forget, as in Kaa: it runs where an
executor subscribes, and nowhere if none does. The answer is its correlation id and subject.`,
		Example: `  switchboard automation invoke email-notification '{"recipient":"ops@example.com","subject":"Boiler","message":"21.5 C"}' -s plant
  switchboard automation invoke reboot @payload.bin -s plant --timeout 30s --correlation-id job-7`,
		Args: rangeArgs(1, "TYPE", "PAYLOAD"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout < 0 {
				return usagef("--timeout %s: must not be negative (0 never expires)", timeout)
			}
			if timeout > 0 && timeout < time.Millisecond {
				return usagef("--timeout %s: at least 1ms, or 0 for never", timeout)
			}
			inv := apiclient.Invocation{Timeout: timeout, CorrelationID: correlation, ContentType: contentType}
			if len(args) == 2 {
				text, err := a.readText("PAYLOAD", args[1])
				if err != nil {
					return err
				}
				inv.Payload = []byte(text)
				if inv.ContentType == "" && json.Valid(inv.Payload) {
					inv.ContentType = "application/json"
				}
			}
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			pub, err := c.InvokeAutomation(cmd.Context(), sol, args[0], inv)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(pub)
			}
			fmt.Fprintf(a.stdout, "published automation %s for %s: correlation id %s on %s\n", args[0], pub.Tenant, pub.CorrelationID, pub.Subject)
			return nil
		},
	}
	a.solutionFlag(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "how long after now the invocation expires, e.g. 30s (0 never); an executor drops it unrun once expired")
	cmd.Flags().StringVar(&correlation, "correlation-id", "", "the invocation's correlation id (default: a fresh one); Switchboard's executor uses it as the event id, so the same one is run once")
	cmd.Flags().StringVar(&contentType, "content-type", "", "the payload's content type on the request (default application/json when it is JSON); the invocation carries bytes only")
	return cmd
}
