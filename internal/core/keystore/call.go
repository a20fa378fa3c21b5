package keystore

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/switchboardhq/switchboard/internal/service"
)

// Call runs one operation for a solution's script (service.Caller). args is the script's table
// converted to Go; the result uses the same types. Failures are *service.Error.
func (s *Store) Call(ctx context.Context, solution, operation string, args any) (res any, err error) {
	defer func() {
		// A bug must fail the call, not the hub.
		if r := recover(); r != nil {
			s.log.Error("keystore call panicked", "solution", solution, "operation", operation, "panic", r, "stack", string(debug.Stack()))
			res, err = nil, service.Errorf(statusInternal, "keystore.%s: internal error", operation)
		}
	}()
	if s.closed.Load() {
		return nil, service.Errorf(statusUnavailable, "keystore: closed")
	}
	if !validSolution(solution) {
		return nil, service.Errorf(statusBadRequest, "keystore: invalid solution id %q", solution)
	}
	op := strings.ToLower(operation)
	t, err := table(op, args)
	if err != nil {
		return nil, err
	}
	switch op {
	case "get":
		return s.opGet(ctx, solution, t)
	case "set":
		return s.opSet(ctx, solution, t)
	case "delete":
		return s.opDelete(ctx, solution, t)
	case "list":
		return s.opList(ctx, solution, t)
	case "info":
		return s.opInfo(ctx, solution)
	case "clear":
		return s.opClear(ctx, solution)
	case "mget":
		return s.opMget(ctx, solution, t)
	case "mset":
		return s.opMset(ctx, solution, t)
	case "mdelete":
		return s.opMdelete(ctx, solution, t)
	case "command":
		name, ok, err := optString(op, t, "command")
		if err != nil {
			return nil, err
		}
		if !ok || name == "" {
			return nil, argErr(op, "command", "required string (a Redis command name such as \"incrby\")")
		}
		cmd, found := commands[strings.ToLower(name)]
		if !found {
			return nil, argErr(op, "command", "unknown or unsupported Redis command %q", name)
		}
		return s.runCommand(ctx, op, solution, cmd, t)
	}
	if cmd, found := commands[op]; found {
		// Redis commands are also operations of their own: Keystore.incrby{key=…, args={…}}.
		return s.runCommand(ctx, op, solution, cmd, t)
	}
	if len(operation) > 64 {
		operation = operation[:64] + "…"
	}
	return nil, service.Errorf(statusNotFound, "keystore: unknown operation %s", fmt.Sprintf("%q", operation))
}
