package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"

	"github.com/switchboardhq/switchboard/internal/script"
)

// maxText bounds a message written to the log by Debug, Warning or ThrowError.
const maxText = 4 << 10

// actionPattern is what an action (a method name) may be.
var actionPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// reserved are the methods no action may call: the lifecycle and the built-in methods.
var reserved = map[string]bool{"Start": true, "Stop": true}

func init() {
	for name := range (&instance{}).builtins() {
		reserved[name] = true
	}
}

// builtins are the methods every instance object has (the seed's CustomService).
func (in *instance) builtins() map[string]script.Func {
	return map[string]script.Func{
		"get_settings":     in.getSettings,
		"GetPropertyValue": in.getPropertyValue,
		"SubmitAction":     in.submitAction,
		"Debug":            in.logFunc(slog.LevelInfo),
		"Warning":          in.logFunc(slog.LevelWarn),
		"ThrowError":       in.throwError,
		"SubmitMessage":    in.submitMessage,
	}
}

func (in *instance) getSettings(context.Context, []any) (any, error) {
	s := in.spec.Settings
	tags := s.Tags
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{"nodeName": s.NodeName, "tags": tags, "solution": s.Solution, "flow": s.Flow,
		"instance": in.spec.Name, "service": in.spec.Service, "version": in.spec.Version}, nil
}

// getPropertyValue is GetPropertyValue("static"|"security", name): nil when not set.
func (in *instance) getPropertyValue(_ context.Context, args []any) (any, error) {
	kind, _ := arg(args, 0).(string)
	name, ok := arg(args, 1).(string)
	if !ok {
		return nil, errors.New("GetPropertyValue: the property name must be a string")
	}
	switch kind {
	case "static":
		return in.spec.Static[name], nil
	case "security":
		if v, ok := in.spec.Security[name]; ok {
			return v, nil
		}
		return nil, nil
	}
	return nil, fmt.Errorf(`GetPropertyValue: the type must be "static" or "security", not %q`, in.red.text(fmt.Sprint(arg(args, 0))))
}

// submitAction is SubmitAction(destination, action, message): message goes to the inbox of
// the instance named destination, or of every other instance of the node for "*", whose
// method named action gets it. It waits while an inbox is full (see send); an error is raised
// in the caller (and an unknown destination logged).
func (in *instance) submitAction(ctx context.Context, args []any) (any, error) {
	dest, ok := arg(args, 0).(string)
	if !ok || dest == "" {
		return nil, errors.New("SubmitAction: the destination must be an instance's name or *")
	}
	name, _ := arg(args, 1).(string)
	if !actionPattern.MatchString(name) {
		return nil, fmt.Errorf("SubmitAction: the action must be a method name (letters, digits, _; at most 64), not %q", in.red.text(truncate(fmt.Sprint(arg(args, 1)), 80)))
	}
	if reserved[name] {
		return nil, fmt.Errorf("SubmitAction: %s is not an action (the lifecycle and built-in methods are not)", name)
	}
	body := arg(args, 2)
	if _, fn := body.(script.Value); fn {
		return nil, errors.New("SubmitAction: a message cannot hold a function")
	}
	if n := sizeOf(body); n > in.o.opt.MaxMessageBytes {
		return nil, fmt.Errorf("SubmitAction: the message is about %d bytes; the limit is %d", n, in.o.opt.MaxMessageBytes)
	}
	a := action{from: in.spec.Name, name: name, body: body}
	if dest == "*" {
		a.broadcast = true
		var errs []string
		for _, to := range in.o.others(in) {
			if err := to.send(ctx, a); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if fwd := in.o.opt.Forward; fwd != nil {
			if _, err := fwd(ctx, dest, name, body, true); err != nil {
				errs = append(errs, in.red.text(err.Error()))
			}
		}
		if len(errs) > 0 {
			return nil, fmt.Errorf("SubmitAction to *: not delivered to all: %s", strings.Join(errs, "; "))
		}
		return nil, nil
	}
	to := in.o.lookup(dest)
	if to == nil && in.o.opt.Forward != nil {
		known, err := in.o.opt.Forward(ctx, dest, name, body, false)
		if known {
			if err != nil {
				return nil, fmt.Errorf("SubmitAction to %s: %s", dest, in.red.text(err.Error()))
			}
			return nil, nil
		}
	}
	if to == nil {
		msg := fmt.Sprintf("SubmitAction to an unknown destination %q (action %s)", in.red.text(truncate(dest, 80)), name)
		in.log(slog.LevelWarn, msg, nil)
		return nil, errors.New(msg)
	}
	if err := to.send(ctx, a); err != nil {
		return nil, fmt.Errorf("SubmitAction to %s: %w", dest, err)
	}
	return nil, nil
}

// logFunc is Debug (at info: it is the service's console output) or Warning.
func (in *instance) logFunc(level slog.Level) script.Func {
	return func(_ context.Context, args []any) (any, error) {
		in.log(level, text(arg(args, 0)), nil)
		return nil, nil
	}
}

// throwError is ThrowError(message, fault_code, fault_description): an alert through the host.
func (in *instance) throwError(_ context.Context, args []any) (any, error) {
	code, desc := "", ""
	if v := arg(args, 1); v != nil {
		code = text(v)
	}
	if v := arg(args, 2); v != nil {
		desc = text(v)
	}
	in.o.opt.Host.Alert(in.spec, in.red.text(text(arg(args, 0))), in.red.text(code), in.red.text(desc))
	return nil, nil
}

// submitMessage is SubmitMessage(message): published to the instance's upstream topic by the
// host, durably. A failure is logged and raised in the caller.
func (in *instance) submitMessage(ctx context.Context, args []any) (any, error) {
	if in.spec.Upstream == "" {
		return nil, errors.New("SubmitMessage: the instance has no upstream topic")
	}
	body := arg(args, 0)
	if _, fn := body.(script.Value); fn {
		return nil, errors.New("SubmitMessage: a message cannot hold a function")
	}
	if n := sizeOf(body); n > in.o.opt.MaxMessageBytes {
		return nil, fmt.Errorf("SubmitMessage: the message is about %d bytes; the limit is %d", n, in.o.opt.MaxMessageBytes)
	}
	if err := in.o.opt.Host.Submit(ctx, in.spec, body); err != nil {
		msg := "SubmitMessage to " + in.spec.Upstream + " failed: " + err.Error()
		in.log(slog.LevelWarn, msg, nil)
		return nil, errors.New(in.red.text(msg))
	}
	return nil, nil
}

// text is how a Lua value given as a log message reads: strings as they are, tables as JSON.
func text(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		s = "nil"
	case string:
		s = x
	case float64:
		s = strconv.FormatFloat(x, 'g', 14, 64)
	case bool:
		s = strconv.FormatBool(x)
	case script.Value:
		s = "function"
	default:
		b, err := json.Marshal(x)
		if err != nil {
			s = fmt.Sprint(x)
		} else {
			s = string(b)
		}
	}
	return truncate(s, maxText)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// sizeOf estimates what v (a Lua value converted to Go) takes, as the sandbox counts it.
func sizeOf(v any) int64 {
	switch x := v.(type) {
	case string:
		return 16 + int64(len(x))
	case []any:
		n := int64(64 + 16*len(x))
		for _, e := range x {
			n += sizeOf(e)
		}
		return n
	case map[string]any:
		n := int64(64)
		for k, e := range x {
			n += 64 + int64(len(k)) + sizeOf(e)
		}
		return n
	}
	return 16
}
