package apiclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// PublishedEvent is an event to publish: Data is its JSON data (nil for none), ID and CorrelationID
// may be empty.
type PublishedEvent struct {
	ID            string          `json:"id,omitempty"`
	Topic         string          `json:"topic"`
	Data          json.RawMessage `json:"data,omitempty"`
	CorrelationID string          `json:"correlation_id,omitempty"`
}

// PublishEvent publishes e to a solution's handlers (POST /api/v1/solutions/{solution}/events).
// Without sync the event is stored and its handlers run later: the answer is {"id": …}. With
// sync they run now and the answer is what they returned. No handler on the topic is Status
// 404.
func (c *Client) PublishEvent(ctx context.Context, solution string, e PublishedEvent, sync bool) (json.RawMessage, error) {
	p, err := solutionPath(solution, "events")
	if err != nil {
		return nil, err
	}
	if sync {
		p += "?mode=sync"
	}
	var out json.RawMessage
	_, err = c.do(ctx, http.MethodPost, p, e, &out)
	return out, err
}

// TailedEvent is an event as a tail shows it.
type TailedEvent struct {
	ID    string          `json:"id"`
	Topic string          `json:"topic"`
	Time  time.Time       `json:"time"`
	Data  json.RawMessage `json:"data"`
}

// TailEvents calls f with each event stored for a solution from now on whose topic matches
// pattern (a topic or a subscription with wildcards; "" = every topic), until ctx ends (nil),
// f fails (its error) or the server ends the stream (ErrStreamEnded)
// (GET …/events?follow=1, Server-Sent Events). The client's timeout does not apply.
func (c *Client) TailEvents(ctx context.Context, solution, pattern string, f func(TailedEvent) error) error {
	p, err := solutionPath(solution, "events")
	if err != nil {
		return err
	}
	v := url.Values{"follow": {"1"}}
	if pattern != "" {
		v.Set("topic", pattern)
	}
	return c.stream(ctx, p+"?"+v.Encode(), func(data []byte) error {
		var e TailedEvent
		if err := json.Unmarshal(data, &e); err != nil {
			return fmt.Errorf("apiclient: event stream: decoding an event: %w", err)
		}
		return f(e)
	})
}
