package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/internal/apiclient"
)

// syncer is the server side of one item kind, as the deploy command syncs it.
type syncer struct {
	kind itemKind
	// list returns the server's items of this kind (without File and Line).
	list func(ctx context.Context) ([]item, error)
	// same reports whether the server's item is the folder's, so needs no update; nil
	// compares the script and topics.
	same func(remote, local item) bool
	// put creates an item, or replaces the server's when update.
	put func(ctx context.Context, it item, update bool) error
	// settle, when set, is the folder's item as deploying it over remote leaves it, updated
	// or not (a hosted service's next version, or its newest unchanged).
	settle func(remote, local item, update bool) item
	// del removes an item; nil for a kind deploy never removes (hosted services, flows).
	del func(ctx context.Context, it item) error
	// check fails as put would, changing nothing (deploy --dry-run).
	check func(ctx context.Context, it item) error
	// prepare, when set, checks the folder's items of this kind against what the server
	// says of them before anything changes; their problems are *sourceErrors.
	prepare func(ctx context.Context, local []item) error
}

// syncers returns the syncers of every item kind, for solution sol.
func syncers(c *apiclient.Client, sol string) []syncer {
	return []syncer{{
		kind: kindEndpoint,
		list: func(ctx context.Context) ([]item, error) {
			eps, err := c.ListEndpoints(ctx, sol)
			if err != nil {
				return nil, err
			}
			items := make([]item, len(eps))
			for i, ep := range eps {
				items[i] = item{Kind: kindEndpoint, Method: ep.Method, Path: ep.Path, Script: ep.Script}
			}
			return items, nil
		},
		put: func(ctx context.Context, it item, _ bool) error {
			_, _, err := c.DeployEndpoint(ctx, sol, apiclient.Endpoint{Method: it.Method, Path: it.Path, Script: it.Script})
			return err
		},
		del: func(ctx context.Context, it item) error {
			return c.DeleteEndpoint(ctx, sol, it.Method, it.Path)
		},
		check: func(ctx context.Context, it item) error {
			_, err := c.CheckEndpoint(ctx, sol, apiclient.Endpoint{Method: it.Method, Path: it.Path, Script: it.Script})
			return err
		},
	}, {
		kind: kindHandler,
		list: func(ctx context.Context) ([]item, error) {
			hs, err := c.ListHandlers(ctx, sol)
			if err != nil {
				return nil, err
			}
			items := make([]item, len(hs))
			for i, h := range hs {
				items[i] = item{Kind: kindHandler, Name: h.Name, Topics: h.Topics, Script: h.Script}
				items[i].Service, items[i].Event, _ = splitHandlerName(h.Name)
			}
			return items, nil
		},
		put: func(ctx context.Context, it item, _ bool) error {
			_, _, err := c.DeployHandler(ctx, sol, apiclient.Handler{Name: it.Name, Topics: it.Topics, Script: it.Script})
			return err
		},
		del: func(ctx context.Context, it item) error {
			return c.DeleteHandler(ctx, sol, it.Name)
		},
		check: func(ctx context.Context, it item) error {
			_, err := c.CheckHandler(ctx, sol, apiclient.Handler{Name: it.Name, Topics: it.Topics, Script: it.Script})
			return err
		},
	}, connectorSyncer(c, sol), hostedSyncer(c, sol), flowSyncer(c, sol)}
}

// Deploy actions.
const (
	actAdd       = "added"
	actUpdate    = "updated"
	actRemove    = "removed"
	actUnchanged = "unchanged"
	actKeep      = "kept"
)

// actionSymbols prefix the text output's lines.
var actionSymbols = map[string]string{actAdd: "+", actUpdate: "~", actRemove: "-"}

// step is one planned action on one item.
type step struct {
	action string
	item   item
	sync   *syncer
}

// plan compares the folder's items with the server's and returns the steps: the folder's items
// in folder order, connectors after endpoints and handlers (so that the handlers of their
// topics are there first), then hosted services, then flows (which pin them), then the
// server's items missing from the folder, connectors first, sorted; hosted services and
// flows missing from the folder are left alone.
func plan(local []item, remote map[itemKind][]item, syncs []syncer, keep bool) []step {
	local = slices.Clone(local)
	slices.SortStableFunc(local, func(a, b item) int {
		return kindRank(a.Kind) - kindRank(b.Kind)
	})
	byKind := map[itemKind]*syncer{}
	for i := range syncs {
		byKind[syncs[i].kind] = &syncs[i]
	}
	remoteByKey := map[string]item{}
	for _, items := range remote {
		for _, it := range items {
			remoteByKey[it.key()] = it
		}
	}
	var steps []step
	inFolder := map[string]bool{}
	for _, it := range local {
		inFolder[it.key()] = true
		r, exists := remoteByKey[it.key()]
		sync := byKind[it.Kind]
		update := exists && (sync.same != nil && !sync.same(r, it) ||
			sync.same == nil && (r.Script != it.Script || !slices.Equal(r.Topics, it.Topics)))
		if exists && sync.settle != nil {
			it = sync.settle(r, it, update)
		}
		switch {
		case !exists:
			steps = append(steps, step{actAdd, it, sync})
		case update:
			steps = append(steps, step{actUpdate, it, sync})
		default:
			steps = append(steps, step{actUnchanged, it, sync})
		}
	}
	var gone []item
	for key, it := range remoteByKey {
		if !inFolder[key] && byKind[it.Kind].del != nil {
			gone = append(gone, it)
		}
	}
	sort.Slice(gone, func(i, j int) bool {
		a, b := gone[i], gone[j]
		if ra, rb := boolRank(a.Kind != kindConnector), boolRank(b.Kind != kindConnector); ra != rb {
			return ra < rb // a connector stops before the handlers of its topic go
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Method != b.Method {
			return a.Method < b.Method
		}
		return a.Name < b.Name
	})
	for _, it := range gone {
		act := actRemove
		if keep {
			act = actKeep
		}
		steps = append(steps, step{act, it, byKind[it.Kind]})
	}
	return steps
}

// kindRank orders the folder's items by kind for deploying.
func kindRank(k itemKind) int {
	switch k {
	case kindConnector:
		return 1
	case kindHosted:
		return 2
	case kindFlow:
		return 3
	}
	return 0
}

// boolRank is 1 for true, 0 for false: a sort key.
func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// deployAction is one line of the deploy command's JSON output.
type deployAction struct {
	Action string `json:"action"`
	Kind   string `json:"kind"`
	// Method and Path identify an endpoint.
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	// Name identifies a handler or a connector; Service and Event are set for a handler
	// "<service>_<event>", Type and Topic for a connector.
	Name    string `json:"name,omitempty"`
	Service string `json:"service,omitempty"`
	Event   string `json:"event,omitempty"`
	Type    string `json:"type,omitempty"`
	Topic   string `json:"topic,omitempty"`
	// Version is the version a hosted service's add or update makes.
	Version string `json:"version,omitempty"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
}

// deployResult is the deploy command's JSON output.
type deployResult struct {
	Solution  string         `json:"solution"`
	DryRun    bool           `json:"dry_run"`
	Added     int            `json:"added"`
	Updated   int            `json:"updated"`
	Removed   int            `json:"removed"`
	Unchanged int            `json:"unchanged"`
	Kept      int            `json:"kept"`
	Actions   []deployAction `json:"actions"`
}

func (r *deployResult) count(action string) {
	switch action {
	case actAdd:
		r.Added++
	case actUpdate:
		r.Updated++
	case actRemove:
		r.Removed++
	case actUnchanged:
		r.Unchanged++
	case actKeep:
		r.Kept++
	}
}

// summary is the text output's last line.
func (r *deployResult) summary() string {
	var s string
	if r.DryRun {
		s = fmt.Sprintf("dry run: %d to add, %d to update, %d to remove, %d unchanged", r.Added, r.Updated, r.Removed, r.Unchanged)
	} else {
		s = fmt.Sprintf("deployed: %d added, %d updated, %d removed, %d unchanged", r.Added, r.Updated, r.Removed, r.Unchanged)
	}
	if r.Kept > 0 {
		s += fmt.Sprintf(", %d kept", r.Kept)
	}
	return s
}

const deployLong = `Make a solution's endpoints, event handlers and connectors match a folder of Lua files.

Every .lua file under DIR is read, recursively and in lexical order (files and folders
whose names start with "." are skipped). In each file, an annotation line

  --#ENDPOINT METHOD /path
  --#EVENT service event
  --#CONNECTOR name type topic

starts an item whose script is the lines that follow, up to the next annotation or the
end of the file; one file may hold several items. --#ENDPOINT starts an HTTP endpoint.
--#EVENT (Murano's form) starts the event handler named "<service>_<event>", which runs
for each "<service>.<event>" event, such as --#EVENT demoexternalservice event. Before
the first annotation only blank lines and comments may appear. Methods are
case-insensitive; paths start with "/" and may hold parameters such as /users/{id};
service names are lowercase letters and digits; event names are letters, digits and
"_". A line starting with "--#" and a letter is always read as an annotation; write
"-- #" for a plain comment.

--#CONNECTOR declares a connector (see "switchboard connector types") that publishes on
topic. It has no script: its config is JSON on the "--" comment lines right below it, up
to the first blank line (none is {}); only comments may follow, up to the next
annotation. A secret of the config (a top-level field its type lists as secret, see
"switchboard connector types TYPE") may take ${NAME} from the environment of this
command, so that no secret has to be written in the file: an unset or empty NAME is an
error naming it, and $${ is a literal ${. Other fields may not, as the server shows them
back to whoever reads the solution's connectors:

  --#CONNECTOR hook webhook hooks.github
  -- {"style": "github", "secret": "${GITHUB_HOOK_SECRET}"}

The folder is checked first: a malformed annotation, an unknown method, a path not
starting with "/", a bad service, event or connector name, a config that is not a JSON
object, a ${NAME} unset or outside a secret, or the same endpoint, event or connector
twice is reported as FILE:LINE and nothing is sent. Then deploy adds the endpoints, handlers and connectors
missing on the server, updates those whose script (or a connector's type, topic or
config) differs, leaves the others alone and removes the server's ones that are not in
the folder (unless --keep). A connector whose config sets a secret is always updated:
the server never shows a secret back, so it cannot be compared. Connectors are added
after the handlers and removed before them. A paused connector stays paused.
A deploy that would remove every endpoint, handler and connector of the solution (an
empty or wrong folder, or the wrong -s), or every connector of the solution while the
folder declares none, is refused, naming what it would remove, unless --prune is given.
It prints one line per change:

  + GET /new                         added
  ~ GET /changed                     updated
  - GET /gone                        removed
  + EVENT demoexternalservice event  added
  + CONNECTOR tick                   added

and a summary counting endpoints, handlers and connectors together. A script or config
the server refuses is reported at its FILE:LINE; when a change fails, the others are
still tried but nothing is removed. With --dry-run nothing changes: the server checks
each add and update of an endpoint or handler as it would deploy it, a connector's type
and config are checked against the server's connector types, and every problem is
reported at its FILE:LINE.

The folder DIR/hosted holds hosted services: hosted/NAME.lua, hosted/NAME.py or
hosted/NAME (kind: process), each with an optional hosted/NAME.yaml giving description,
kind, static_properties and security_properties (as "hosted create --properties"); its
files are not read as annotated files. DIR/flows holds flows, flows/NAME.yaml as "flow
create --file" reads them. After the rest, deploy creates the hosted services missing
(version 0.1: "+ HOSTED Blink 0.1"), stores the next minor version of those whose code or
properties differ from their newest version ("~ HOSTED Blink 0.2"; --major: the next
major), then creates or replaces the flows that differ ("+ FLOW lights"). It never
deletes a hosted service or a flow, even with --prune.`

const deployExample = `  # Preview, then deploy the folder ./api to the solution demo
  switchboard deploy ./api -s demo --dry-run
  switchboard deploy ./api -s demo

  # Add and update only; keep endpoints, handlers and connectors that are not in the folder
  switchboard deploy ./api -s demo --keep

  # Empty the solution: deploy an empty folder, which needs --prune
  switchboard deploy ./empty -s demo --prune

  # A file ./api/users.lua may hold several endpoints. request.parameters holds the
  # path's and the query's parameters; the value returned is the response body (a table
  # as JSON) and response.code the status:
  #   --#ENDPOINT GET /users/{id}
  #   local user = Keystore.get({key = "user:" .. request.parameters.id})
  #   if user.value == nil then
  #     response.code = 404
  #     return {error = "no such user"}
  #   end
  #   return from_json(user.value)
  #
  #   --#ENDPOINT DELETE /users/{id}
  #   Keystore.delete({key = "user:" .. request.parameters.id})
  #   response.code = 204

  # A file ./api/events.lua may hold event handlers, and connectors publishing events:
  #   --#EVENT demoexternalservice event
  #   Keystore.set({key = "last-event", value = "seen"})
  #
  #   --#CONNECTOR tick cron ticks.minute
  #   -- {"schedule": "@every 1m"}
  #
  #   --#EVENT ticks minute
  #   Keystore.incr({key = "ticks"})`

func (a *app) newDeployCmd() *cobra.Command {
	var dryRun, keep, prune, major bool
	cmd := &cobra.Command{
		Use:     "deploy DIR",
		Short:   "Sync a folder of annotated Lua files to a solution's endpoints, event handlers and connectors",
		Long:    deployLong,
		Example: deployExample,
		Args:    exactArgs("DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sol, err := a.requireSolution()
			if err != nil {
				return err
			}
			if keep && prune {
				return usagef("--keep and --prune: give one or the other")
			}
			if dryRun {
				return a.dryRun(cmd.Context(), sol, args[0], keep, prune, major)
			}
			local, err := loadDir(args[0])
			if err != nil {
				return err
			}
			setMajor(local, major)
			if local, err = resolveConfigs(local, a.getenv); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			syncs := syncers(c, sol)
			if err := prepareDeploy(cmd.Context(), syncs, local); err != nil {
				return err
			}
			steps, err := planDeploy(cmd.Context(), syncs, local, keep)
			if err != nil {
				return err
			}
			if !prune {
				if err := refuseEmptying(steps, sol, args[0]); err != nil {
					return err
				}
			}
			return a.deploy(cmd.Context(), sol, steps, dryRun)
		},
	}
	a.solutionFlag(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would change and have the server check every change, changing nothing")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the server's endpoints, handlers and connectors that are not in the folder")
	cmd.Flags().BoolVar(&major, "major", false, "store a changed hosted service as its next major version (1.0) rather than minor (0.2)")
	cmd.Flags().BoolVar(&prune, "prune", false, "allow a deploy that removes every endpoint, handler and connector of the solution (an empty folder), or every connector")
	return cmd
}

// setMajor makes the folder's changed hosted services their next major version.
func setMajor(items []item, major bool) {
	for _, it := range items {
		if it.Hosted != nil {
			it.Hosted.Major = major
		}
	}
}

// prepareDeploy runs the syncers' prepare on the folder's items.
func prepareDeploy(ctx context.Context, syncs []syncer, local []item) error {
	var errs []error
	for _, s := range syncs {
		if s.prepare == nil {
			continue
		}
		err := s.prepare(ctx, local)
		if err != nil && !itemsFault(err) {
			return err
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// planDeploy lists the server's items and plans the steps that make them match local.
func planDeploy(ctx context.Context, syncs []syncer, local []item, keep bool) ([]step, error) {
	remote := map[itemKind][]item{}
	for _, s := range syncs {
		if s.del == nil && !slices.ContainsFunc(local, func(it item) bool { return it.Kind == s.kind }) {
			continue // never removed: what the folder does not hold is not asked for
		}
		items, err := s.list(ctx)
		if err != nil {
			return nil, err
		}
		remote[s.kind] = items
	}
	return plan(local, remote, syncs, keep), nil
}

// refuseEmptying fails when steps would remove every endpoint, handler and connector of the
// solution: almost always an empty or wrong folder rather than the wish to empty the solution.
// It fails too when they would remove every connector of a folder that declares none: a folder
// written before it could, or connectors made with "connector create".
func refuseEmptying(steps []step, sol, dir string) error {
	var gone, goneConnectors []string
	counts := map[itemKind]int{}
	stays, connectorStays := false, false
	for _, st := range steps {
		if st.sync.del == nil {
			continue // never removed, so no sign of what the folder is
		}
		switch st.action {
		case actRemove:
			gone = append(gone, "  - "+st.item.label())
			counts[st.item.Kind]++
			if st.item.Kind == kindConnector {
				goneConnectors = append(goneConnectors, "  - "+st.item.label())
			}
		case actUnchanged, actUpdate, actKeep, actAdd:
			if st.action != actAdd {
				stays = true // something of the server's stays
			}
			if st.item.Kind == kindConnector {
				connectorStays = true
			}
		}
	}
	if len(gone) > 0 && !stays {
		what := []string{}
		for _, k := range []itemKind{kindEndpoint, kindHandler, kindConnector} {
			if n := counts[k]; n > 0 {
				what = append(what, plural(n, k.String()))
			}
		}
		return fmt.Errorf("refusing to deploy %s: it has none of solution %s's %s, so deploying it would remove them all:\n%s\n"+
			"check the folder and -s; to remove them anyway give --prune, or --keep to add without removing",
			dir, sol, joinAnd(what), strings.Join(gone, "\n"))
	}
	if len(goneConnectors) > 0 && !connectorStays {
		return fmt.Errorf("refusing to deploy %s: it declares none of solution %s's %s, so deploying it would remove them all:\n%s\n"+
			"declare them in the folder (--#CONNECTOR name type topic); to remove them anyway give --prune, or --keep to add without removing",
			dir, sol, plural(len(goneConnectors), "connector"), strings.Join(goneConnectors, "\n"))
	}
	return nil
}

// joinAnd is "a", "a and b" or "a, b and c".
func joinAnd(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// plural is "1 endpoint" or "3 endpoints".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// deploy applies the planned steps.
func (a *app) deploy(ctx context.Context, sol string, steps []step, dryRun bool) error {
	res := &deployResult{Solution: sol, DryRun: dryRun, Actions: []deployAction{}}
	record := func(action string, it item) {
		res.count(action)
		res.Actions = append(res.Actions, deployAction{
			Action: action, Kind: it.Kind.String(), Method: it.Method, Path: it.Path,
			Name: it.Name, Service: it.Service, Event: it.Event, Type: it.Type, Topic: it.Topic, Version: it.Version,
			File: it.File, Line: it.Line,
		})
		if sym := actionSymbols[action]; sym != "" && !a.jsonOutput() {
			fmt.Fprintf(a.stdout, "%s %s\n", sym, it.label())
		}
	}

	var failed []error
	changes, removals, done := 0, 0, 0
	for _, st := range steps {
		switch st.action {
		case actAdd, actUpdate:
			changes++
		case actRemove:
			changes++
			removals++
		}
	}
	apply := func(st step) error {
		var err error
		switch {
		case dryRun && st.action != actRemove && st.sync.check != nil:
			// The server compiles and checks what it would be sent.
			err = locateItemError(st.sync.check(ctx, st.item), st.item)
		case dryRun:
		case st.action == actAdd, st.action == actUpdate:
			err = locateItemError(st.sync.put(ctx, st.item, st.action == actUpdate), st.item)
		case st.action == actRemove:
			err = st.sync.del(ctx, st.item)
			if apiclient.StatusOf(err) == http.StatusNotFound {
				err = nil // gone already
			}
		}
		if err == nil {
			done++
			record(st.action, st.item)
			return nil
		}
		if itemsFault(err) {
			failed = append(failed, err) // this item's fault: try the others
			return nil
		}
		if dryRun {
			return fmt.Errorf("dry run stopped: %w", err)
		}
		return fmt.Errorf("deploy stopped after %d of %d changes: %w", done, changes, err)
	}

	// Adds and updates first; removals only when all of them worked.
	for _, st := range steps {
		switch st.action {
		case actUnchanged, actKeep:
			record(st.action, st.item)
		case actAdd, actUpdate:
			if err := apply(st); err != nil {
				return err
			}
		}
	}
	if len(failed) > 0 {
		msg := fmt.Sprintf("deploy failed: %d of %d changes failed", len(failed), changes)
		if dryRun {
			msg = fmt.Sprintf("dry run: %d of %d changes would fail; nothing was changed", len(failed), changes)
		} else if removals > 0 {
			msg += "; nothing was removed"
		}
		return errors.Join(append(failed, errors.New(msg))...)
	}
	for _, st := range steps {
		if st.action == actRemove {
			if err := apply(st); err != nil {
				return err
			}
		}
	}
	if a.jsonOutput() {
		return a.printJSON(res)
	}
	fmt.Fprintln(a.stdout, res.summary())
	return nil
}

// itemsFault reports whether err is an item's own problem, placed at its file and line (the
// others are still tried), rather than the server's or the connection's (deploy stops).
func itemsFault(err error) bool {
	var le *locatedError
	var se *sourceError
	return errors.As(err, &le) || errors.As(err, &se)
}

// locateItemError places the server's refusal of an item's content (400, 413 or 422; for a
// connector also 403 and 409, one created meanwhile) at the
// item's annotation, or at the script line the server names. Other errors are returned as they
// are: they are not the item's fault.
func locateItemError(err error, it item) error {
	var apiErr *apiclient.Error
	if !errors.As(err, &apiErr) {
		return err
	}
	switch apiErr.Status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
	case http.StatusForbidden, http.StatusConflict:
		if it.Kind != kindConnector || (apiErr.Field != "type" && apiErr.Field != "name") {
			return err
		}
	default:
		return err
	}
	line := it.Line
	if apiErr.Line > 0 {
		line += apiErr.Line // the script's line 1 is the line after the annotation
	}
	return &locatedError{File: it.File, Line: line, Label: it.label(), Err: apiErr}
}
