package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// Every handler has its own durable consumers of EventsStream, shared by every instance:
// one of its topics and one of its direct subject. Fan-out is JetStream's, and a slow or
// failing handler holds up only its own consumers.
const (
	// consumerPrefix starts the name of every handler's topic consumer, sbh_<solution>_<handler>
	// (orderedPrefix when the handler orders its events: JetStream keeps a consumer's priority
	// policy for life), and directPrefix that of its direct one. A solution id holds no '_',
	// so the name splits back unambiguously.
	consumerPrefix = "sbh_"
	orderedPrefix  = "sbo_"
	directPrefix   = "sbd_"
	// priorityGroup is the pull group of ordered handlers' consumers, which pin it to one
	// instance at a time so that events of one key are never run by two at once.
	priorityGroup = "sb"
	// pinnedTTL is how long an ordered handler's consumer waits for word from its pinned
	// instance before another may take over.
	pinnedTTL = 30 * time.Second
	// DefaultMaxInFlight is a handler's concurrent runs on one instance when it sets none.
	DefaultMaxInFlight = 16
	// maxAckPending bounds a handler's events delivered and not yet acknowledged across
	// every instance: the runs in flight, those buffered, and those waiting for a retry.
	maxAckPending = 4096
)

// ConsumerName is the durable consumer of the topics of handler name of sol, when it does not
// order its events.
func ConsumerName(sol, name string) string { return consumerPrefix + sol + "_" + name }

// OrderedConsumerName is the durable consumer of the topics of handler name of sol, when it
// orders its events.
func OrderedConsumerName(sol, name string) string { return orderedPrefix + sol + "_" + name }

// topicConsumerName is h's topic consumer, and the one it would have with order_by toggled.
func topicConsumerName(h Handler) (name, other string) {
	if h.OrderBy != "" {
		return OrderedConsumerName(h.Solution, h.Name), ConsumerName(h.Solution, h.Name)
	}
	return ConsumerName(h.Solution, h.Name), OrderedConsumerName(h.Solution, h.Name)
}

// directConsumerName is the durable consumer of handler name's direct subject.
func directConsumerName(sol, name string) string { return directPrefix + sol + "_" + name }

// consumerOf splits a consumer name back into solution and handler.
func consumerOf(consumer string) (sol, name string, ok bool) {
	for _, p := range []string{consumerPrefix, orderedPrefix, directPrefix} {
		if rest, ok := strings.CutPrefix(consumer, p); ok {
			return strings.Cut(rest, "_")
		}
	}
	return "", "", false
}

// features are what the NATS server offers that consumers use when it does.
type features struct {
	multiFilter bool // a consumer with several filter subjects (2.10)
	pinning     bool // priority groups pinning a consumer to one client (2.11)
}

func featuresOf(b interface{ ServerAtLeast(int, int) bool }) features {
	return features{multiFilter: b.ServerAtLeast(2, 10), pinning: b.ServerAtLeast(2, 11)}
}

// directSubject is where events for one handler alone go: dead letters replayed and the
// OpenFaaS gateway's async calls.
func directSubject(sol, name string) string { return "sb.to." + sol + "." + name }

// eventSubject is where an event on topic of sol is stored.
func eventSubject(sol, topic string) string { return "sb.events." + sol + "." + topic }

// inFlight is how many of h's runs one instance does at once.
func (h Handler) inFlight() int {
	if h.MaxInFlight > 0 {
		return h.MaxInFlight
	}
	return DefaultMaxInFlight
}

// filters are the subjects h's topic consumer reads, and whether they are wider than its
// topics, so that each event must be matched again: when some topics overlap in a way
// JetStream's filters cannot express, or the server takes one filter only.
func (h Handler) filters(f features) ([]string, bool) {
	topics := coverTopics(h.Topics)
	wide := len(topics) > 1 && !f.multiFilter
	for i := range topics {
		for j := i + 1; j < len(topics); j++ {
			if topicsCollide(topics[i], topics[j]) {
				wide = true
			}
		}
	}
	if wide {
		return []string{eventSubject(h.Solution, ">")}, true
	}
	out := make([]string, len(topics))
	for i, t := range topics {
		out[i] = eventSubject(h.Solution, t)
	}
	return out, false
}

// coverTopics drops every topic another one already covers (orders.new under orders.*),
// as a consumer's filters may not overlap.
func coverTopics(topics []string) []string {
	var out []string
	for i, t := range topics {
		covered := false
		for j, o := range topics {
			if i != j && covers(o, t) && (!covers(t, o) || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, t)
		}
	}
	return out
}

// covers reports whether every topic sub matches is also matched by wide.
func covers(wide, sub string) bool {
	w, s := strings.Split(wide, "."), strings.Split(sub, ".")
	for i, ws := range w {
		if ws == ">" {
			return i < len(s) // '>' needs one segment or more, whatever they are
		}
		if i >= len(s) {
			return false
		}
		if s[i] == ">" || (ws != "*" && (s[i] == "*" || ws != s[i])) {
			return false
		}
	}
	return len(w) == len(s)
}

// topicsCollide reports whether some topic matches both subscriptions.
func topicsCollide(a, b string) bool {
	x, y := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; ; i++ {
		switch {
		case i < len(x) && x[i] == ">":
			return i < len(y)
		case i < len(y) && y[i] == ">":
			return i < len(x)
		case i == len(x) || i == len(y):
			return len(x) == len(y)
		case x[i] != "*" && y[i] != "*" && x[i] != y[i]:
			return false
		}
	}
}

// consumerConfigs are the consumers h's events are delivered through: of its topics, and
// of its direct subject.
func consumerConfigs(h Handler, f features) (topics, direct jetstream.ConsumerConfig) {
	filters, _ := h.filters(f)
	topics = jetstream.ConsumerConfig{
		Durable:       first(topicConsumerName(h)),
		Description:   "Switchboard handler " + h.Name + " of " + h.Solution,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		// Retries are counted here rather than by the server, so an event is always either
		// done or parked, never left behind.
		MaxDeliver:    -1,
		MaxAckPending: maxAckPending,
	}
	if len(filters) == 1 {
		topics.FilterSubject = filters[0] // what servers before 2.10 take
	} else {
		topics.FilterSubjects = filters
	}
	direct = topics
	direct.Durable = directConsumerName(h.Solution, h.Name)
	direct.Description = "Switchboard handler " + h.Name + " of " + h.Solution + ", direct"
	direct.FilterSubject, direct.FilterSubjects = directSubject(h.Solution, h.Name), nil
	if h.OrderBy != "" {
		topics.PriorityPolicy = jetstream.PriorityPolicyPinned
		topics.PriorityGroups = []string{priorityGroup}
		topics.PinnedTTL = pinnedTTL
	}
	return topics, direct
}

// ensureConsumers creates h's consumers, or brings existing ones' filters and bounds up to
// h. It runs before h is stored, so that every event stored once any instance can see h
// reaches it.
func ensureConsumers(ctx context.Context, js jetstream.JetStream, replicas int, f features, h Handler) error {
	if h.OrderBy != "" && !f.pinning {
		return &solution.FieldError{Field: "order_by", Reason: "needs NATS server 2.11 or later (the embedded one, or an outside one that recent), which lets one instance at a time run an ordered handler"}
	}
	if err := ensureEventStreams(ctx, js, replicas); err != nil {
		return err
	}
	topics, direct := consumerConfigs(h, f)
	// A handler turning ordered (or back) changes consumers: the new one starts where the old
	// one had done everything, and only then does the old one go, so that no event waiting
	// for the handler is let go of in between. Events the old one finished out of order run
	// again.
	_, other := topicConsumerName(h)
	old, err := js.Consumer(ctx, EventsStream, other)
	switch {
	case err == nil:
		if _, err := js.Consumer(ctx, EventsStream, topics.Durable); errors.Is(err, jetstream.ErrConsumerNotFound) {
			topics.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
			topics.OptStartSeq = old.CachedInfo().AckFloor.Stream + 1
		}
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return fmt.Errorf("consumer of handler %s: %w", h.Name, err)
	}
	for _, cfg := range []jetstream.ConsumerConfig{topics, direct} {
		if err := ensureConsumer(ctx, js, cfg); err != nil {
			return fmt.Errorf("consumer of handler %s: %w", h.Name, err)
		}
	}
	if old != nil {
		if err := js.DeleteConsumer(ctx, EventsStream, other); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("consumer of handler %s: %w", h.Name, err)
		}
	}
	return nil
}

func first(a, _ string) string { return a }

func ensureConsumer(ctx context.Context, js jetstream.JetStream, cfg jetstream.ConsumerConfig) error {
	c, err := js.Consumer(ctx, EventsStream, cfg.Durable)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		_, err = js.CreateConsumer(ctx, EventsStream, cfg)
		if errors.Is(err, jetstream.ErrConsumerExists) {
			return ensureConsumer(ctx, js, cfg) // created meanwhile: update it
		}
		return err
	case err != nil:
		return err
	}
	cur := c.CachedInfo().Config
	if sameConsumer(cur, cfg) {
		return nil
	}
	// An update keeps the consumer's place; its deliver policy cannot change.
	cfg.DeliverPolicy, cfg.OptStartSeq = cur.DeliverPolicy, cur.OptStartSeq
	_, err = js.UpdateConsumer(ctx, EventsStream, cfg)
	return err
}

func sameConsumer(a, b jetstream.ConsumerConfig) bool {
	return a.FilterSubject == b.FilterSubject && slices.Equal(a.FilterSubjects, b.FilterSubjects) &&
		a.MaxAckPending == b.MaxAckPending && a.PriorityPolicy == b.PriorityPolicy && a.AckWait == b.AckWait
}

// deleteConsumers removes h's consumers with the events waiting in them; none is not an
// error.
func deleteConsumers(ctx context.Context, js jetstream.JetStream, sol, name string) error {
	for _, c := range []string{ConsumerName(sol, name), OrderedConsumerName(sol, name), directConsumerName(sol, name)} {
		err := js.DeleteConsumer(ctx, EventsStream, c)
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("delete consumer of handler %s: %w", name, err)
		}
	}
	return nil
}

// orphanAge is how old a consumer without a handler must be before an instance starting
// deletes it: a handler being deployed has its consumers a moment before its record.
const orphanAge = 2 * time.Minute

// sweepConsumers deletes handler consumers whose handler is no longer stored (its deletion
// cut short, or deleted by a version that kept none): they would hold events for nobody.
func (d *Dispatcher) sweepConsumers(ctx context.Context) {
	st, err := d.o.Bus.JetStream().Stream(ctx, EventsStream)
	if err != nil {
		return
	}
	infos := st.ListConsumers(ctx)
	for info := range infos.Info() {
		sol, name, ok := consumerOf(info.Name)
		if !ok || time.Since(info.Created) < orphanAge || d.o.Store.stored(ctx, sol, name) {
			continue
		}
		if err := st.DeleteConsumer(ctx, info.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			d.log.Warn("consumer of a deleted handler not deleted", "consumer", info.Name, "err", err)
			continue
		}
		d.log.Info("deleted the consumer of a deleted handler", "consumer", info.Name)
	}
}
