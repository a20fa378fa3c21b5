package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

func (a *app) newKeystoreCmd() *cobra.Command {
	cmd := groupCmd("keystore", "Look at and change a solution's Keystore",
		`Read and write the Keystore of a solution, the key-value store its scripts reach as
Keystore.get, Keystore.set and so on. The commands go through the API and behave as
those operations do: the same keys (1 to 1024 bytes), values stored as text, the same
value size limit and key quota, and expired keys never shown. A solution's token reaches
only its own Keystore. The solution comes from -s/--solution or SWITCHBOARD_SOLUTION.`)
	cmd.Aliases = []string{"ks"}
	cmd.AddCommand(
		a.newKeystoreGetCmd(),
		a.newKeystoreSetCmd(),
		a.newKeystoreDelCmd(),
		a.newKeystoreListCmd(),
		a.newKeystoreInfoCmd(),
	)
	return cmd
}

func (a *app) newKeystoreGetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print a key's value",
		Long: `Print the value of KEY: a string as it is, the elements of a list or the members of
a set one per line. With -o json: {"key", "type", "value", "ttl"}, ttl being the
seconds left before the key expires (absent when it does not). A missing key is an
error (exit code 1).`,
		Example: `  switchboard keystore get my-key -s demo
  switchboard keystore get user:42 -s demo -o json`,
		Args: keyArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			k, err := c.KeystoreGet(cmd.Context(), sol, args[0])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(k)
			}
			return writeKeyValue(a.stdout, k)
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

// writeKeyValue writes a string as it is (with a newline unless it ends in one) and a list's
// or set's items one per line.
func writeKeyValue(w io.Writer, k apiclient.KeystoreKey) error {
	switch v := k.Value.(type) {
	case string:
		if !strings.HasSuffix(v, "\n") {
			v += "\n"
		}
		_, err := io.WriteString(w, v)
		return err
	case []any:
		for _, it := range v {
			if _, err := fmt.Fprintln(w, it); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *app) newKeystoreSetCmd() *cobra.Command {
	var value string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "set KEY [VALUE]",
		Short: "Set a key to a string value",
		Long: `Set KEY to VALUE, as a script's Keystore.set does: any value the key had, of any
type, is replaced and its expiry cleared. Instead of VALUE, --value @FILE reads the
value from FILE and --value - from standard input, byte for byte. --ttl makes the key
expire after that long (whole seconds, such as 30s or 10m).`,
		Example: `  switchboard keystore set greeting hello -s demo
  switchboard keystore set config --value @config.json -s demo
  echo -n token | switchboard keystore set session:1 --value - --ttl 10m -s demo`,
		Args: func(cmd *cobra.Command, args []string) error {
			given := cmd.Flags().Changed("value")
			switch {
			case len(args) == 0:
				return usagef("%s: missing KEY", cmd.CommandPath())
			case len(args) > 2 || len(args) == 2 && given:
				return usagef("%s takes KEY and VALUE, or KEY and --value, not more", cmd.CommandPath())
			case len(args) == 1 && !given:
				return usagef("%s: missing VALUE (or --value @FILE, or --value - for standard input)", cmd.CommandPath())
			}
			return keyArg(cmd, args[:1])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			v := value
			if len(args) == 2 {
				v = args[1]
			} else {
				var err error
				if v, err = a.readValue(value); err != nil {
					return err
				}
			}
			secs := int64(ttl / time.Second)
			switch {
			case ttl < 0:
				return usagef("--ttl %s: must not be negative", ttl)
			case ttl%time.Second != 0 || (ttl > 0 && secs == 0):
				return usagef("--ttl %s: want a whole number of seconds, such as 30s or 10m", ttl)
			}
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			k, err := c.KeystoreSet(cmd.Context(), sol, args[0], v, secs)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(k)
			}
			msg := fmt.Sprintf("set %s (%d bytes)", k.Key, len(v))
			if k.TTL != nil {
				msg += fmt.Sprintf(", expires in %s", time.Duration(*k.TTL)*time.Second)
			}
			fmt.Fprintln(a.stdout, msg)
			return nil
		},
	}
	cmd.Flags().StringVar(&value, "value", "", "the value: TEXT, @FILE to read it from FILE, or - for standard input")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "expire the key after this long (whole seconds: 30s, 10m, 24h)")
	a.solutionFlag(cmd)
	return cmd
}

// readValue reads --value: "-" is standard input, "@FILE" the file, anything else the text.
func (a *app) readValue(v string) (string, error) {
	switch {
	case v == "-":
		b, err := io.ReadAll(a.stdin)
		if err != nil {
			return "", usagef("cannot read the value from standard input: %v", err)
		}
		return string(b), nil
	case strings.HasPrefix(v, "@"):
		b, err := os.ReadFile(v[1:])
		if err != nil {
			return "", readError(v[1:], err)
		}
		return string(b), nil
	}
	return v, nil
}

func (a *app) newKeystoreDelCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "del KEY",
		Aliases: []string{"delete", "rm"},
		Short:   "Delete a key",
		Long:    "Delete KEY, as Keystore.delete does. Deleting a key that does not exist is not an error.",
		Example: "  switchboard keystore del my-key -s demo",
		Args:    exactArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			deleted, err := c.KeystoreDelete(cmd.Context(), sol, args[0])
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(map[string]any{"key": args[0], "deleted": deleted})
			}
			if deleted {
				fmt.Fprintf(a.stdout, "deleted %s\n", args[0])
			} else {
				fmt.Fprintf(a.stdout, "no key %s: nothing deleted\n", args[0])
			}
			return nil
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) newKeystoreListCmd() *cobra.Command {
	var match, cursor string
	var count int
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List a solution's keys",
		Long: `List the keys of a solution in byte order, one per line, as Keystore.list does.
--match keeps the keys matching a Redis glob (* ? [a-z] [^a] \x). Without --count or
--cursor every key is listed; with them one page of at most --count keys (default
100, at most 1000) is, followed, when more keys match, by the cursor of the next page
(on standard error in text; "cursor" with -o json).`,
		Example: `  switchboard keystore list -s demo
  switchboard keystore list --match 'user:*' -s demo
  switchboard keystore list --count 50 -s demo -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("count") && count < 1 {
				return usagef("--count %d: must be at least 1", count)
			}
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			paged := cmd.Flags().Changed("count") || cursor != ""
			keys := []string{}
			next := cursor
			for {
				page, err := c.KeystoreList(cmd.Context(), sol, match, next, count)
				if err != nil {
					return err
				}
				keys = append(keys, page.Keys...)
				next = page.Cursor
				if paged || next == "" {
					break
				}
			}
			if a.jsonOutput() {
				out := map[string]any{"keys": keys, "cursor": nil}
				if next != "" {
					out["cursor"] = next
				}
				return a.printJSON(out)
			}
			for _, k := range keys {
				fmt.Fprintln(a.stdout, k)
			}
			if next != "" {
				fmt.Fprintf(a.stderr, "more keys: give --cursor %s for the next page\n", next)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&match, "match", "", "list only the keys matching this Redis glob, such as 'user:*'")
	cmd.Flags().StringVar(&cursor, "cursor", "", "list the page after this cursor (printed by a previous paged list)")
	cmd.Flags().IntVar(&count, "count", 0, "list one page of at most this many keys (at most 1000)")
	a.solutionFlag(cmd)
	return cmd
}

func (a *app) newKeystoreInfoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "info",
		Short:   "Show how much of its Keystore quota a solution uses",
		Long:    "Show the number of keys of a solution, the bytes they take, and the quota: the most keys it may hold and the largest value.",
		Example: "  switchboard keystore info -s demo\n  switchboard keystore info -s demo -o json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sol, c, err := a.solutionClient()
			if err != nil {
				return err
			}
			info, err := c.KeystoreInfo(cmd.Context(), sol)
			if err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(info)
			}
			t := newTable(a.stdout)
			fmt.Fprintf(t, "keys:\t%d of %d\n", info.Count, info.Quota.Keys)
			fmt.Fprintf(t, "size:\t%s\n", formatByteSize(info.Size))
			fmt.Fprintf(t, "largest value:\t%s\n", formatByteSize(info.Quota.ValueBytes))
			return t.Flush()
		},
	}
	a.solutionFlag(cmd)
	return cmd
}

// keyArg accepts one argument, a key: any non-empty string, spaces included.
func keyArg(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return usagef("%s: missing KEY", cmd.CommandPath())
	case len(args) > 1:
		return usagef("%s takes KEY, got extra arguments %q", cmd.CommandPath(), strings.Join(args[1:], " "))
	case args[0] == "":
		return usagef("%s: KEY is empty", cmd.CommandPath())
	}
	return nil
}
