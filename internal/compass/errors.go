package compass

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchboardhq/switchboard/internal/application"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// Error codes in errors[].extensions.code, as Apollo-style clients expect them.
const (
	CodeBadUserInput    = "BAD_USER_INPUT"
	CodeNotFound        = "NOT_FOUND"
	CodeForbidden       = "FORBIDDEN"
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeConflict        = "CONFLICT"
	CodeUnavailable     = "UNAVAILABLE"
	CodeInternal        = "INTERNAL"
)

var errInternal = errors.New("internal error")

// codedError is an error with its code and, for bad input, the field at fault.
type codedError struct {
	code, field, msg string
}

func (e *codedError) Error() string { return e.msg }

func badInput(field, format string, a ...any) error {
	return &codedError{code: CodeBadUserInput, field: field, msg: field + ": " + fmt.Sprintf(format, a...)}
}

func quote(s string) string { return fmt.Sprintf("%.64q", s) }

// argFields are the fields of store errors that name an argument rather than a field of in.
var argFields = map[string]bool{"applicationID": true, "eventID": true, "id": true}

// presenter maps resolver errors to GraphQL errors with extensions.code (and field, for bad
// input); what it does not know is logged and shown as INTERNAL, without details.
func presenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		var ce *codedError
		var fe *solution.FieldError
		var named interface{ Field() string }
		switch {
		case errors.As(err, &ce):
			setCode(gerr, ce.code, ce.field)
		case errors.As(err, &fe):
			field := fe.Field
			if !argFields[field] {
				field = "in." + field
			}
			gerr.Message = field + ": " + fe.Reason
			setCode(gerr, CodeBadUserInput, field)
		case errors.Is(err, application.ErrNameTaken) && errors.As(err, &named):
			setCode(gerr, CodeConflict, "in."+named.Field())
		case errors.Is(err, application.ErrNotFound):
			setCode(gerr, CodeNotFound, "")
		case errors.Is(err, errInternal):
			setCode(gerr, CodeInternal, "")
		case gerr.Extensions["code"] != nil:
			// gqlgen's own: parse, validation and complexity errors carry their codes.
		case isArgument(ctx, gerr):
			// An argument a scalar refused (before the resolver ran) is bad input at its path.
			field := inputField(gerr.Path)
			gerr.Message = field + ": " + gerr.Message
			setCode(gerr, CodeBadUserInput, field)
		default:
			log.Error("graphql request failed", "path", gerr.Path.String(), "err", err)
			gerr.Message = "internal error"
			setCode(gerr, CodeInternal, "")
		}
		return gerr
	}
}

func setCode(e *gqlerror.Error, code, field string) {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions["code"] = code
	if field != "" {
		e.Extensions["field"] = strings.TrimPrefix(field, ".")
	}
}

// inputField is the argument path of an input error ([field, arg, ...] -> "arg.a[0].b").
func inputField(path ast.Path) string {
	var b strings.Builder
	for i, el := range path {
		switch el := el.(type) {
		case ast.PathName:
			if i == 0 {
				continue // the field the argument is of
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(string(el))
		case ast.PathIndex:
			fmt.Fprintf(&b, "[%d]", int(el))
		}
	}
	return b.String()
}

// isArgument is whether e is about an argument of the field being resolved: its path goes
// below the field's.
func isArgument(ctx context.Context, e *gqlerror.Error) bool {
	fc := graphql.GetFieldContext(ctx)
	return fc != nil && len(e.Path) > len(fc.Path())
}
