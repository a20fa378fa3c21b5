// Package events runs solutions' event handlers: scripts subscribed to topics such as
// "demoexternalservice.event". Handlers are kept in JetStream KV (Store); a Dispatcher runs the
// handlers of an event either at once (Dispatch) or durably, with retries and a dead-letter
// stream, from a JetStream work queue shared by every instance (Enqueue and Start).
package events

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// Patterns and bounds of handler fields.
var (
	// NamePattern is what a handler name must match.
	NamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	// TopicPattern is what a published topic must match: dot-separated segments, as NATS
	// subject tokens that hold no wildcard, so a topic can be part of a subject as it is.
	TopicPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$`)
	// SubscriptionPattern is what a handler's topic must match: a topic whose segments may
	// also be the NATS wildcards '*' (any one segment) and, as the last segment only, '>'
	// (one or more segments).
	SubscriptionPattern = regexp.MustCompile(`^([a-z0-9][a-z0-9_-]*|\*)(\.([a-z0-9][a-z0-9_-]*|\*))*(\.>)?$|^>$`)
)

const (
	// MaxTopics bounds the topics of one handler.
	MaxTopics = 16
	// MaxTopicBytes bounds one topic; it becomes part of NATS subjects.
	MaxTopicBytes = 255
)

// Handler is a named script of a solution run for every event on one of its topics.
type Handler struct {
	Solution string   `json:"-"`
	Name     string   `json:"name"`
	Topics   []string `json:"topics"`
	Script   string   `json:"script"`
	// Retry is how durable events' runs of this handler are retried; nil keeps the
	// dispatcher's defaults.
	Retry *RetryPolicy `json:"retry,omitempty"`
	// MaxInFlight bounds this handler's concurrent durable runs on one instance; 0 is
	// DefaultMaxInFlight.
	MaxInFlight int `json:"max_in_flight,omitempty"`
	// OrderBy, when set, runs this handler's durable events one at a time per key, in the
	// order they were stored: the key is the event's "topic", "subject", "correlation_id" or
	// a value in its data ("data.device.id"). Different keys still run side by side.
	OrderBy   string    `json:"order_by,omitempty"`
	Version   uint64    `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NormalizeHandler fills Topics from a Murano-style name (<service>_<event> subscribes to
// <service>.<event>) when none are given, drops repeated topics and checks every field,
// compiling the script. Invalid input is a *solution.FieldError naming the field ("name",
// "topics", "topics[1]", "script"); a script that does not compile is a *script.CompileError.
func NormalizeHandler(h Handler) (Handler, error) {
	h, _, err := normalize(h)
	return h, err
}

// normalize is NormalizeHandler that also returns the compiled program, so a store write
// does not compile the script twice.
func normalize(h Handler) (Handler, *script.Program, error) {
	if !NamePattern.MatchString(h.Name) {
		return Handler{}, nil, &solution.FieldError{Field: "name", Reason: "must match " + NamePattern.String() + " (lower-case letters, digits, '_' and '-', 1 to 63 characters)"}
	}
	if len(h.Topics) == 0 {
		t, ok := MuranoTopic(h.Name)
		if !ok {
			return Handler{}, nil, &solution.FieldError{Field: "topics", Reason: "required: give at least one topic, or name the handler <service>_<event>"}
		}
		h.Topics = []string{t}
	}
	if len(h.Topics) > MaxTopics {
		return Handler{}, nil, &solution.FieldError{Field: "topics", Reason: fmt.Sprintf("at most %d topics", MaxTopics)}
	}
	seen := make(map[string]bool, len(h.Topics))
	topics := make([]string, 0, len(h.Topics))
	for i, t := range h.Topics {
		if err := ValidateSubscription(t); err != nil {
			return Handler{}, nil, &solution.FieldError{Field: fmt.Sprintf("topics[%d]", i), Reason: err.Error()}
		}
		if !seen[t] {
			seen[t] = true
			topics = append(topics, t)
		}
	}
	h.Topics = topics
	if h.Retry != nil {
		if err := h.Retry.validate(); err != nil {
			return Handler{}, nil, err
		}
		if h.Retry.equal(RetryPolicy{}) {
			h.Retry = nil // {} is the defaults
		}
	}
	if h.MaxInFlight < 0 || h.MaxInFlight > MaxMaxInFlight {
		return Handler{}, nil, &solution.FieldError{Field: "max_in_flight", Reason: fmt.Sprintf("must be between 1 and %d (0 or absent: no bound of its own)", MaxMaxInFlight)}
	}
	if h.OrderBy != "" && !OrderByPattern.MatchString(h.OrderBy) {
		return Handler{}, nil, &solution.FieldError{Field: "order_by", Reason: `must be "topic", "subject", "correlation_id" or "data." and a path into the event's data such as "data.device.id"`}
	}
	if strings.TrimSpace(h.Script) == "" {
		// A handler that does nothing is almost surely a mistake (an empty upload); deleting
		// the handler is how to stop handling a topic.
		return Handler{}, nil, &solution.FieldError{Field: "script", Reason: "required"}
	}
	if len(h.Script) > solution.MaxScriptBytes {
		return Handler{}, nil, &solution.FieldError{Field: "script", Reason: fmt.Sprintf("longer than %d bytes", solution.MaxScriptBytes)}
	}
	p, err := script.Compile(programName(h.Solution, h.Name), h.Script)
	if err != nil {
		return Handler{}, nil, err
	}
	return h, p, nil
}

// ValidateTopic checks one published topic. The error says why, without naming the field.
func ValidateTopic(t string) error {
	return checkTopic(t, TopicPattern, "dot-separated lower-case words of letters, digits, '_' and '-'")
}

// ValidateSubscription checks one topic a handler subscribes to, which may hold wildcards as
// whole segments. The error says why, without naming the field.
func ValidateSubscription(t string) error {
	return checkTopic(t, SubscriptionPattern, "dot-separated lower-case words of letters, digits, '_' and '-'; a whole word may be '*', and the last may be '>'")
}

func checkTopic(t string, pattern *regexp.Regexp, hint string) error {
	switch {
	case t == "":
		return fmt.Errorf("required")
	case len(t) > MaxTopicBytes:
		return fmt.Errorf("longer than %d characters", MaxTopicBytes)
	case !pattern.MatchString(t):
		return fmt.Errorf("%q must match %s (%s)", t, pattern.String(), hint)
	}
	return nil
}

// MatchTopic reports whether a published topic matches a subscription, as NATS matches
// subjects: '*' stands for exactly one segment, a last '>' for one or more.
func MatchTopic(subscription, topic string) bool {
	for {
		sub, subRest, subMore := strings.Cut(subscription, ".")
		seg, rest, more := strings.Cut(topic, ".")
		switch {
		case sub == ">" && !subMore:
			return seg != ""
		case sub != "*" && sub != seg:
			return false
		case !subMore || !more:
			return subMore == more
		}
		subscription, topic = subRest, rest
	}
}

// MuranoTopic is the topic a handler named <service>_<event> subscribes to: <service>.<event>.
// The service is the part before the first '_', as service aliases hold none while event
// names may (websocket_websocket_info is event websocket_info of service websocket).
func MuranoTopic(name string) (string, bool) {
	svc, event, ok := strings.Cut(name, "_")
	if !ok || svc == "" || event == "" {
		return "", false
	}
	t := svc + "." + event
	if ValidateTopic(t) != nil {
		return "", false
	}
	return t, true
}

// programName is the chunk name of a handler's script, which its errors carry.
func programName(sol, name string) string {
	return sol + " handler " + name
}

// subscribes reports whether one of h's topics matches topic.
func (h Handler) subscribes(topic string) bool {
	for _, t := range h.Topics {
		if MatchTopic(t, topic) {
			return true
		}
	}
	return false
}

// renamed is a solution.FieldError about another field of the same value (a solution id
// checked as "id" that callers know as "solution").
func renamed(err error, field string) error {
	var fe *solution.FieldError
	if errors.As(err, &fe) {
		return &solution.FieldError{Field: field, Reason: fe.Reason}
	}
	return err
}
