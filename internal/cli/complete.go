package cli

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

// completeTimeout bounds the requests shell completion makes: a shell waits for them.
const completeTimeout = 3 * time.Second

// lister returns the completion candidates of one argument from the server; args are the
// arguments before it, sol the solution of -s/SWITCHBOARD_SOLUTION ("" if none).
type lister func(ctx context.Context, c *apiclient.Client, sol string, args []string) ([]string, error)

// addCompletions makes the shell complete solution names (-s and arguments), endpoint
// methods and paths, handler names, services and Keystore keys from the server. Any failure
// (no server, no token, refused) completes nothing: completion must never print errors.
func (a *app) addCompletions(root *cobra.Command) {
	solutions := func(ctx context.Context, c *apiclient.Client, _ string, _ []string) ([]string, error) {
		items, err := c.ListSolutions(ctx)
		return names(items, func(s apiclient.Solution) string { return s.ID }), err
	}
	catalog := func(ctx context.Context, c *apiclient.Client, _ string, _ []string) ([]string, error) {
		items, err := c.ListServices(ctx)
		return names(items, func(s apiclient.Service) string { return s.Name }), err
	}
	// added lists the services added to the solution named by the first argument.
	added := func(ctx context.Context, c *apiclient.Client, _ string, args []string) ([]string, error) {
		items, err := c.ListSolutionServices(ctx, args[0])
		return names(items, func(s apiclient.ServiceConfig) string { return s.Service }), err
	}
	methodsOf := func(ctx context.Context, c *apiclient.Client, sol string, _ []string) ([]string, error) {
		items, err := c.ListEndpoints(ctx, sol)
		return names(items, func(e apiclient.Endpoint) string { return e.Method }), err
	}
	allMethods := func(context.Context, *apiclient.Client, string, []string) ([]string, error) {
		return methods, nil
	}
	// paths lists the solution's endpoint paths, of the method in the first argument only.
	paths := func(ctx context.Context, c *apiclient.Client, sol string, args []string) ([]string, error) {
		items, err := c.ListEndpoints(ctx, sol)
		return names(items, func(e apiclient.Endpoint) string {
			if !strings.EqualFold(e.Method, args[0]) {
				return ""
			}
			return e.Path
		}), err
	}
	anyPath := func(ctx context.Context, c *apiclient.Client, sol string, _ []string) ([]string, error) {
		items, err := c.ListEndpoints(ctx, sol)
		return names(items, func(e apiclient.Endpoint) string { return e.Path }), err
	}
	handlers := func(ctx context.Context, c *apiclient.Client, sol string, _ []string) ([]string, error) {
		items, err := c.ListHandlers(ctx, sol)
		return names(items, func(h apiclient.Handler) string { return h.Name }), err
	}
	connectors := func(ctx context.Context, c *apiclient.Client, sol string, _ []string) ([]string, error) {
		items, err := c.ListConnectors(ctx, sol)
		return names(items, func(k apiclient.Connector) string { return k.Name }), err
	}
	connectorTypes := func(ctx context.Context, c *apiclient.Client, _ string, _ []string) ([]string, error) {
		items, err := c.ConnectorTypes(ctx)
		return names(items, func(k apiclient.ConnectorType) string { return k.Type }), err
	}
	// The listers of each command's arguments, by position.
	byCommand := map[string][]lister{
		"solution get":            {solutions},
		"solution update":         {solutions},
		"solution delete":         {solutions},
		"solution services":       {solutions},
		"solution add-service":    {solutions, catalog},
		"solution update-service": {solutions, added},
		"solution remove-service": {solutions, added},
		"service show":            {catalog},
		"service delete":          {catalog},
		"endpoint get":            {methodsOf, paths},
		"endpoint delete":         {methodsOf, paths},
		"endpoint deploy":         {allMethods, anyPath},
		"handler get":             {handlers},
		"handler delete":          {handlers},
		"connector types":         {connectorTypes},
		"connector show":          {connectors},
		"connector update":        {connectors},
		"connector delete":        {connectors},
		"connector pause":         {connectors},
		"connector resume":        {connectors},
		"keystore get":            {keys},
		"keystore set":            {keys},
		"keystore del":            {keys},
	}
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		path := strings.TrimPrefix(cmd.CommandPath(), root.Name()+" ")
		if ls, ok := byCommand[path]; ok {
			cmd.ValidArgsFunction = a.completeArgs(ls)
		}
		if path == "deploy" {
			cmd.ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return nil, cobra.ShellCompDirectiveFilterDirs
			}
		}
		if strings.HasPrefix(path, "connector ") && cmd.LocalFlags().Lookup("type") != nil {
			_ = cmd.RegisterFlagCompletionFunc("type", a.complete(connectorTypes))
		}
		if cmd.LocalFlags().Lookup("solution") != nil {
			_ = cmd.RegisterFlagCompletionFunc("solution", a.complete(solutions))
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

// keys lists Keystore keys starting with what was typed so far (one page).
func keys(ctx context.Context, c *apiclient.Client, sol string, args []string) ([]string, error) {
	page, err := c.KeystoreList(ctx, sol, globPrefix(args[len(args)-1])+"*", "", 1000)
	return page.Keys, err
}

// globPrefix escapes the Redis glob characters of a typed prefix.
func globPrefix(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// completeArgs completes the argument at each position with its lister; positions past the
// listers complete files for a FILE argument and nothing otherwise.
func (a *app) completeArgs(ls []lister) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) >= len(ls) {
			if strings.HasSuffix(cmd.Use, "FILE") {
				return nil, cobra.ShellCompDirectiveDefault
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return a.complete(ls[len(args)])(cmd, args, toComplete)
	}
}

// complete runs one lister with the command's flags and environment (the lister gets the
// arguments before the one completed, and toComplete last) and keeps the candidates that
// start with toComplete.
func (a *app) complete(l lister) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		none := cobra.ShellCompDirectiveNoFileComp
		// Completion runs no PersistentPreRunE: the environment is applied here.
		if applyEnv(cmd.Flags(), a.getenv) != nil {
			return nil, none
		}
		c, err := a.client()
		if err != nil {
			return nil, none
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		ctx, cancel := context.WithTimeout(ctx, completeTimeout)
		defer cancel()
		found, err := l(ctx, c, strings.TrimSpace(a.solution), append(append([]string(nil), args...), toComplete))
		if err != nil {
			return nil, none
		}
		var out []string
		seen := map[string]bool{}
		for _, f := range found {
			if f != "" && !seen[f] && strings.HasPrefix(f, toComplete) {
				seen[f] = true
				out = append(out, f)
			}
		}
		return out, none
	}
}

// names maps items to their names, dropping empty ones.
func names[T any](items []T, name func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		if n := name(it); n != "" {
			out = append(out, n)
		}
	}
	return out
}
