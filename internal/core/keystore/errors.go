package keystore

import (
	"context"
	"errors"
	"fmt"

	"github.com/switchboardhq/switchboard/internal/service"
)

// Statuses of the failures a script can see.
const (
	statusBadRequest   = 400 // bad arguments and Redis command errors (WRONGTYPE, ERR …)
	statusNotFound     = 404 // unknown operation
	statusTooLarge     = 413 // a value larger than Options.MaxValueBytes
	statusInsufficient = 507 // the solution's key quota is full
	statusInternal     = 500 // a stored value that cannot be read, or a bug
	statusUnavailable  = 503 // the storage did not answer, or the store is closed
	statusTimeout      = 504 // the caller's context ended first
)

// Redis' own messages, kept verbatim so scripts written against Redis recognise them.
const (
	msgWrongType   = "WRONGTYPE Operation against a key holding the wrong kind of value"
	msgNotInteger  = "ERR value is not an integer or out of range"
	msgNotFloat    = "ERR value is not a valid float"
	msgOverflow    = "ERR increment or decrement would overflow"
	msgNaN         = "ERR increment would produce NaN or Infinity"
	msgSyntax      = "ERR syntax error"
	msgPositiveArg = "ERR value is out of range, must be positive"
)

func errWrongType() error { return service.Errorf(statusBadRequest, msgWrongType) }

func redisErr(msg string) error { return service.Errorf(statusBadRequest, "%s", msg) }

func errArity(cmd string) error {
	return service.Errorf(statusBadRequest, "ERR wrong number of arguments for '%s' command", cmd)
}

// argErr is a bad argument: "keystore.<op>: <arg>: <problem>".
func argErr(op, arg, format string, a ...any) error {
	return service.Errorf(statusBadRequest, "keystore.%s: %s: %s", op, arg, fmt.Sprintf(format, a...))
}

// storageErr turns a failure of the bus into the error a script sees, keeping the cause in the
// message so it can be told apart from a bad argument.
func storageErr(ctx context.Context, op string, err error) error {
	var se *service.Error
	if errors.As(err, &se) {
		return se
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return service.Errorf(statusTimeout, "keystore.%s: timed out: %v", op, err)
	}
	if errors.Is(err, errCorrupt) {
		return service.Errorf(statusInternal, "keystore.%s: %v", op, err)
	}
	return service.Errorf(statusUnavailable, "keystore.%s: storage unavailable: %v", op, err)
}
