package apiclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// DeadLetter is a durable event handler run that failed every attempt.
type DeadLetter struct {
	// Seq names the dead letter (show, replay and delete take it).
	Seq      uint64          `json:"seq"`
	EventID  string          `json:"event_id,omitempty"`
	Topic    string          `json:"topic,omitempty"`
	Handler  string          `json:"handler"`
	Event    json.RawMessage `json:"event,omitempty"`
	Error    string          `json:"error"`
	Kind     string          `json:"kind,omitempty"`
	Attempts uint64          `json:"attempts"`
	FailedAt time.Time       `json:"failed_at"`
	Replays  int             `json:"replays,omitempty"`
}

// DeadLetterPage is one page of dead letters; NextCursor is set when there may be more.
type DeadLetterPage struct {
	Items      []DeadLetter `json:"items"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

// DeadLetterFilter selects dead letters; zero fields select all.
type DeadLetterFilter struct {
	Handler string `json:"handler,omitempty"`
	Topic   string `json:"topic,omitempty"`
	Since   string `json:"since,omitempty"` // an RFC 3339 time or a duration back from now ("10m")
}

func (f DeadLetterFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"handler": f.Handler, "topic": f.Topic, "since": f.Since} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// DeadLetterSelection names the dead letters a replay or purge acts on: one by Seq, those the
// filter selects, or All.
type DeadLetterSelection struct {
	Seq uint64 `json:"seq,omitempty"`
	DeadLetterFilter
	All bool `json:"all,omitempty"`
}

// DeadLetters returns one page of a solution's dead letters
// (GET /api/v1/solutions/{solution}/deadletters); cursor is the previous page's NextCursor,
// limit 0 the server's default.
func (c *Client) DeadLetters(ctx context.Context, solution string, f DeadLetterFilter, cursor string, limit int) (DeadLetterPage, error) {
	var out DeadLetterPage
	p, err := solutionPath(solution, "deadletters")
	if err != nil {
		return out, err
	}
	v := f.values()
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	if q := v.Encode(); q != "" {
		p += "?" + q
	}
	_, err = c.do(ctx, http.MethodGet, p, nil, &out)
	if out.Items == nil {
		out.Items = []DeadLetter{}
	}
	return out, err
}

// GetDeadLetter returns one dead letter (GET …/deadletters/{seq}); Status 404 if there is none.
func (c *Client) GetDeadLetter(ctx context.Context, solution string, seq uint64) (DeadLetter, error) {
	var out DeadLetter
	p, err := solutionPath(solution, "deadletters", strconv.FormatUint(seq, 10))
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// ReplayDeadLetters sends the selected dead letters back to their handlers and returns how
// many (POST …/deadletters/replay).
func (c *Client) ReplayDeadLetters(ctx context.Context, solution string, sel DeadLetterSelection) (int, error) {
	var out struct {
		Replayed int `json:"replayed"`
	}
	p, err := solutionPath(solution, "deadletters", "replay")
	if err != nil {
		return 0, err
	}
	_, err = c.do(ctx, http.MethodPost, p, sel, &out)
	return out.Replayed, err
}

// PurgeDeadLetters removes the selected dead letters and returns how many (DELETE
// …/deadletters/{seq} for a Seq, else DELETE …/deadletters with the filters as a query).
func (c *Client) PurgeDeadLetters(ctx context.Context, solution string, sel DeadLetterSelection) (int, error) {
	var out struct {
		Purged int `json:"purged"`
	}
	var p string
	var err error
	if sel.Seq != 0 {
		p, err = solutionPath(solution, "deadletters", strconv.FormatUint(sel.Seq, 10))
	} else {
		p, err = solutionPath(solution, "deadletters")
		v := sel.values()
		if sel.All {
			v.Set("all", "true")
		}
		if q := v.Encode(); q != "" {
			p += "?" + q
		}
	}
	if err != nil {
		return 0, err
	}
	_, err = c.do(ctx, http.MethodDelete, p, nil, &out)
	return out.Purged, err
}
