package cli

import (
	"context"
	"errors"
	"fmt"
)

// dryRun is deploy --dry-run: every problem the deploy of dir would meet, changing nothing.
// A folder whose files are sound is planned against the server and each change is checked by
// it (compiled, and held to its limits; a connector against the server's connector types);
// with problems in the files, the items that have none are still checked, so one run reports
// everything.
func (a *app) dryRun(ctx context.Context, sol, dir string, keep, prune, major bool) error {
	local, problems, err := scanDir(dir)
	if err != nil {
		return err
	}
	setMajor(local, major)
	local, unresolved := resolveConfigs(local, a.getenv)
	problems = errors.Join(problems, unresolved)
	c, err := a.client()
	if err != nil {
		return err
	}
	syncs := syncers(c, sol)
	prepared := prepareDeploy(ctx, syncs, local)
	if prepared != nil && !itemsFault(prepared) {
		return prepared
	}
	problems = errors.Join(problems, prepared)
	if problems == nil {
		steps, err := planDeploy(ctx, syncs, local, keep)
		if err != nil {
			return err
		}
		if !prune {
			if err := refuseEmptying(steps, sol, dir); err != nil {
				return err
			}
		}
		return a.deploy(ctx, sol, steps, true)
	}
	errs := []error{problems}
	for _, it := range local {
		for _, s := range syncs {
			if s.kind != it.Kind || s.check == nil {
				continue
			}
			err := locateItemError(s.check(ctx, it), it)
			switch {
			case itemsFault(err):
				errs = append(errs, err)
			case err != nil:
				return errors.Join(append(errs, fmt.Errorf("dry run stopped: %w", err))...)
			}
		}
	}
	return errors.Join(append(errs, errors.New("dry run: the folder has problems; nothing was changed"))...)
}
