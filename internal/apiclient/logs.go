package apiclient

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// LogEntry is one entry of a solution's log.
type LogEntry struct {
	// Seq is the entry's position in the hub's log, the cursor of paging.
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"time"`
	Level string    `json:"level"` // debug, info, warn or error
	// Solution is the solution the entry belongs to.
	Solution string `json:"solution"`
	// Source is what ran: "endpoint GET /users/{id}", "handler <name>" or "run".
	Source    string `json:"source"`
	RequestID string `json:"request_id,omitempty"`
	// ErrorID is set on the entry of a failed run: the id its caller was given.
	ErrorID string         `json:"error_id,omitempty"`
	Message string         `json:"message"`
	Fields  map[string]any `json:"fields,omitempty"`
	File    string         `json:"file,omitempty"`
	Line    int            `json:"line,omitempty"`
	// Trace is the Lua stack traceback of a failed run.
	Trace string `json:"trace,omitempty"`
}

// LogPage is one page of a solution's log; NextCursor is set when there may be more.
type LogPage struct {
	Items      []LogEntry `json:"items"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// LogQuery selects entries; zero fields select everything.
type LogQuery struct {
	Level     string // the lowest level shown: debug, info, warn or error
	Since     string // an RFC 3339 time or a duration back from now ("10m")
	RequestID string
	ErrorID   string // the entry of the failed run whose caller got this error id
	Source    string // "endpoint GET /users/{id}", "handler <name>" or "run"
	Cursor    string // the NextCursor of the previous page
	Limit     int    // entries in a page; 0 = the server's default (100)
}

func (q LogQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"level": q.Level, "since": q.Since, "request_id": q.RequestID, "error_id": q.ErrorID, "source": q.Source, "cursor": q.Cursor} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// Logs returns one page of a solution's log (GET /api/v1/solutions/{id}/logs), oldest first.
func (c *Client) Logs(ctx context.Context, solution string, q LogQuery) (LogPage, error) {
	var out LogPage
	p, err := solutionPath(solution, "logs")
	if err != nil {
		return out, err
	}
	if v := q.values().Encode(); v != "" {
		p += "?" + v
	}
	_, err = c.do(ctx, http.MethodGet, p, nil, &out)
	if out.Items == nil {
		out.Items = []LogEntry{}
	}
	return out, err
}

// ErrStreamEnded is the error of FollowLogs and TailEvents when the server ended the stream
// (it is stopping).
var ErrStreamEnded = errors.New("the server ended the stream")

// FollowLogs calls f with each entry of a solution's log that q selects, first those written
// already and then each new one as it is written (GET …/logs?follow=1, Server-Sent Events),
// until ctx ends (nil), f fails (its error) or the server ends the stream (ErrStreamEnded).
// The client's timeout does not apply: a follow lasts as long as ctx.
func (c *Client) FollowLogs(ctx context.Context, solution string, q LogQuery, f func(LogEntry) error) error {
	p, err := solutionPath(solution, "logs")
	if err != nil {
		return err
	}
	v := q.values()
	v.Set("follow", "1")
	return c.stream(ctx, p+"?"+v.Encode(), func(data []byte) error {
		var e LogEntry
		if err := json.Unmarshal(data, &e); err != nil {
			return fmt.Errorf("apiclient: log stream: decoding an entry: %w", err)
		}
		return f(e)
	})
}

// stream GETs p, a stream of Server-Sent Events, and calls f with each event's data, until
// ctx ends (nil), f fails (its error) or the server ends the stream (ErrStreamEnded).
func (c *Client) stream(ctx context.Context, p string, f func(data []byte) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.server+p, nil)
	if err != nil {
		return fmt.Errorf("apiclient: server %q: %w", c.server, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return &ConnectionError{Server: c.server, Method: http.MethodGet, Path: p, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		return errorFromBody(resp.StatusCode, data)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var data bytes.Buffer
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0: // the end of an event
			if data.Len() == 0 {
				continue
			}
			err := f(data.Bytes())
			data.Reset()
			if err != nil {
				return err
			}
		case bytes.HasPrefix(line, []byte("data:")):
			if data.Len()+len(line) > maxResponseBytes {
				return &ConnectionError{Server: c.server, Method: http.MethodGet, Path: p, Err: fmt.Errorf("a streamed entry is larger than %d bytes", maxResponseBytes)}
			}
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.Write(bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" ")))
		}
		// Comments (": keepalive") and id: lines need nothing.
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return &ConnectionError{Server: c.server, Method: http.MethodGet, Path: p, Err: err}
	}
	return ErrStreamEnded
}
