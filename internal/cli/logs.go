package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

const logsLong = `Show a solution's log: what its endpoints and handlers printed or wrote with
Log.debug/info/warn/error, and one error entry for every failed run, with the whole
error message, its line, the Lua stack trace, the request id and the error id its
caller was given. Oldest first, one line each:

  TIME  LEVEL  SOURCE  MESSAGE  key=value…

a failed run's stack trace indented under it. With -f the command keeps running and
shows each new entry as it is written, until interrupted. With -o json each entry is
one JSON object on a line of its own.

The server keeps entries for --logs-max-age (7 days by default) and at most
--logs-per-solution of them per solution. A solution's token reads only its own log.`

const logsExample = `  switchboard logs -s demo
  switchboard logs -s demo -f
  switchboard logs -s demo --level warn --since 10m
  switchboard logs -s demo --request-id 5f2c0a9e41d7b3a86c0e1f27
  switchboard logs -s demo --error-id 3b9e51c07a2d4f86
  switchboard logs -s demo --source "endpoint GET /users/{id}" -o json`

func (a *app) newLogsCmd() *cobra.Command {
	var q apiclient.LogQuery
	var follow bool
	cmd := &cobra.Command{
		Use:     "logs",
		Short:   "Show or follow a solution's log",
		Long:    logsLong,
		Example: logsExample,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch q.Level {
			case "", "debug", "info", "warn", "error":
			default:
				return usagef("--level %q: want debug, info, warn or error", q.Level)
			}
			if q.Since != "" {
				if _, err := time.Parse(time.RFC3339Nano, q.Since); err != nil {
					if d, err := time.ParseDuration(q.Since); err != nil || d < 0 {
						return usagef("--since %q: want a duration back from now (10m, 2h) or an RFC 3339 time (2026-01-02T15:04:05Z)", q.Since)
					}
				}
			}
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			show := a.showLogEntry
			if follow {
				err := c.FollowLogs(cmd.Context(), sol, q, show)
				if errors.Is(err, apiclient.ErrStreamEnded) {
					return fmt.Errorf("%w (is it stopping?)", err)
				}
				return err
			}
			for {
				page, err := c.Logs(cmd.Context(), sol, q)
				if err != nil {
					return err
				}
				for _, e := range page.Items {
					if err := show(e); err != nil {
						return err
					}
				}
				if page.NextCursor == "" {
					return nil
				}
				q.Cursor = page.NextCursor
			}
		},
	}
	a.solutionFlag(cmd)
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "keep running, showing each new entry as it is written")
	f.StringVar(&q.Level, "level", "", "the lowest level shown: debug, info, warn or error")
	f.StringVar(&q.Since, "since", "", "entries from this time on: a duration back from now (10m, 2h) or an RFC 3339 time")
	f.StringVar(&q.RequestID, "request-id", "", "only the entries of this request")
	f.StringVar(&q.ErrorID, "error-id", "", "only the entry of the failed run whose caller got this error id")
	f.StringVar(&q.Source, "source", "", `only the entries of this endpoint or handler: "endpoint GET /users/{id}" or "handler <name>"`)
	return cmd
}

// showLogEntry writes one entry: a JSON line with -o json, else one line of text with a failed
// run's stack trace indented under it.
func (a *app) showLogEntry(e apiclient.LogEntry) error {
	if a.jsonOutput() {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(e)
	}
	_, err := io.WriteString(a.stdout, formatLogEntry(e))
	return err
}

// formatLogEntry is an entry as text: "TIME LEVEL SOURCE MESSAGE key=value…", the trace
// indented on the lines below.
func formatLogEntry(e apiclient.LogEntry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-5s  %s  %s", e.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), e.Level, e.Source, escapeBreaks(e.Message))
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString("  " + k + "=" + fieldText(e.Fields[k]))
	}
	for _, kv := range [][2]string{{"request_id", e.RequestID}, {"error_id", e.ErrorID}} {
		if kv[1] != "" {
			b.WriteString("  " + kv[0] + "=" + kv[1])
		}
	}
	b.WriteByte('\n')
	if e.Trace != "" {
		for _, line := range strings.Split(strings.TrimRight(e.Trace, "\n"), "\n") {
			b.WriteString("    " + strings.TrimLeft(line, "\t") + "\n")
		}
	}
	return b.String()
}

// fieldText is a field's value as text: strings as they are unless they need quoting, the
// rest as JSON.
func fieldText(v any) string {
	if s, ok := v.(string); ok && s != "" && !strings.ContainsAny(s, " \t\n\"=") {
		return s
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}

// escapeBreaks keeps a message on its line: line breaks are shown as \n.
func escapeBreaks(s string) string {
	return strings.NewReplacer("\r\n", `\n`, "\n", `\n`, "\r", `\r`).Replace(s)
}
