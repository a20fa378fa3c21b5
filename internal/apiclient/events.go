package apiclient

import (
	"context"
	"encoding/json"
	"net/http"
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
