package connectorsdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Result is how one invocation ended.
type Result struct {
	Topic string
	// EventID is the event's id: the one the hub answered in async mode, else the one sent.
	EventID string
	// Async tells the event was published for durable delivery: a nil Err means it is stored,
	// not that its handlers ran.
	Async bool
	// Status is the hub's HTTP status; 0 when there was no answer.
	Status int
	// Body is a sync invocation's answer: the one handler's result, or a JSON object of the
	// results by handler name when several ran.
	Body []byte
	// Handlers is a sync invocation's result per handler name, when the hub names them.
	Handlers map[string]json.RawMessage
	// Duration is from sending to the whole answer.
	Duration time.Duration
	// Err is nil on success, else an *Error.
	Err error
}

// Receiver receives the Result of every invocation. Receive may be called from several
// goroutines at once, and should return quickly: the invocation holds its slot until then.
type Receiver interface {
	Receive(Result)
}

// ReceiverFunc is a function as a Receiver.
type ReceiverFunc func(Result)

// Receive calls f(r).
func (f ReceiverFunc) Receive(r Result) { f(r) }

var (
	// ErrNoHandler is matched (errors.Is) by the Error of an event no handler of the
	// solution subscribes to; the hub stored nothing.
	ErrNoHandler = errors.New("no handler subscribes to the topic")
	// ErrClosed is matched by the Error of an invocation made after, or cut short by, Close.
	ErrClosed = errors.New("controller closed")
)

// Error is a failed invocation.
type Error struct {
	Topic string
	// Handler is the handler that failed, when the hub names it.
	Handler string
	// Status is the hub's HTTP status; 0 when the hub did not answer (Err says why).
	Status int
	// Message is the hub's message, or what went wrong here.
	Message string
	// Field names the part of the event the hub refused.
	Field string
	// ErrorID and RequestID find a failed handler's whole error in the solution's log
	// (switchboard logs); Detail is its message, given only to a solution in debug mode.
	ErrorID, RequestID, Detail string
	// RetryAfter is how long the hub asked to wait (a 429 or 503 answer).
	RetryAfter time.Duration
	// Err is the cause here (a timeout, a refused connection, ErrClosed), if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "connectorsdk: topic %s", e.Topic)
	if e.Handler != "" {
		fmt.Fprintf(&b, ": handler %s", e.Handler)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": hub answered %d", e.Status)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.ErrorID != "" {
		fmt.Fprintf(&b, " (error id %s)", e.ErrorID)
	}
	if e.Err != nil && e.Err.Error() != e.Message {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches ErrNoHandler for the hub's 404 naming the topic.
func (e *Error) Is(target error) bool {
	return target == ErrNoHandler && e.Status == http.StatusNotFound && e.Field == "topic"
}

// Temporary tells whether sending the same event again later may succeed: no answer, or the
// hub was busy or failing.
func (e *Error) Temporary() bool {
	if e.Status == 0 {
		return !errors.Is(e.Err, ErrClosed) && e.Err != nil
	}
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout || e.Status >= 500
}
