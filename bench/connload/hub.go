package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// hub is the load program's side of the hub's API, as admin.
type hub struct {
	base, token string
	hc          *http.Client
}

func newHub(base, token string) *hub {
	return &hub{base: base, token: token, hc: &http.Client{Timeout: 30 * time.Second}}
}

func (h *hub) call(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (h *hub) createConnector(ctx context.Context, sol, name, typ, topic string, cfg any) error {
	code, b, err := h.call(ctx, http.MethodPost, "/api/v1/solutions/"+sol+"/connectors",
		map[string]any{"name": name, "type": typ, "topic": topic, "config": cfg})
	if err != nil {
		return fmt.Errorf("create connector %s: %w", name, err)
	}
	if code != http.StatusCreated {
		return fmt.Errorf("create connector %s: %d %s", name, code, b)
	}
	return nil
}

func (h *hub) deleteConnector(ctx context.Context, sol, name string) error {
	code, b, err := h.call(ctx, http.MethodDelete, "/api/v1/solutions/"+sol+"/connectors/"+name, nil)
	if err != nil {
		return fmt.Errorf("delete connector %s: %w", name, err)
	}
	if code != http.StatusNoContent {
		return fmt.Errorf("delete connector %s: %d %s", name, code, b)
	}
	return nil
}

type connectorStatus struct {
	State     string `json:"state"`
	LastError string `json:"last_error"`
	Received  uint64 `json:"received"`
	Published uint64 `json:"published"`
	Rejected  uint64 `json:"rejected"`
}

// connectorStatus is the connector's status as its instance last reported it.
func (h *hub) connectorStatus(ctx context.Context, sol, name string) (connectorStatus, error) {
	code, b, err := h.call(ctx, http.MethodGet, "/api/v1/solutions/"+sol+"/connectors/"+name, nil)
	if err != nil {
		return connectorStatus{}, fmt.Errorf("show connector %s: %w", name, err)
	}
	if code != http.StatusOK {
		return connectorStatus{}, fmt.Errorf("show connector %s: %d %s", name, code, b)
	}
	var v struct {
		Status connectorStatus `json:"status"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return connectorStatus{}, fmt.Errorf("show connector %s: %w", name, err)
	}
	return v.Status, nil
}

// sync runs the handler of topic in sol now and decodes its result into v.
func (h *hub) sync(ctx context.Context, sol, topic string, data any, v any) error {
	code, b, err := h.call(ctx, http.MethodPost, "/api/v1/solutions/"+sol+"/events?mode=sync", map[string]any{"topic": topic, "data": data})
	if err != nil {
		return fmt.Errorf("sync %s: %w", topic, err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("sync %s: %d %s", topic, code, b)
	}
	return json.Unmarshal(b, v)
}

// count reads the number under key in sol's Keystore (0 when missing).
func (h *hub) count(ctx context.Context, sol, key string) (int, error) {
	var v struct {
		N int `json:"n"`
	}
	err := h.sync(ctx, sol, "conn.read", map[string]any{"key": key}, &v)
	return v.N, err
}

// waitCount polls key every 10ms until it reaches n, or stops moving for stall; it answers
// the last value read and when it was first read.
func (h *hub) waitCount(ctx context.Context, sol, key string, n int, stall time.Duration) (int, time.Time, error) {
	seen, at := -1, time.Now()
	for {
		got, err := h.count(ctx, sol, key)
		if err != nil {
			return 0, time.Time{}, err
		}
		now := time.Now()
		if got != seen {
			seen, at = got, now
		}
		if got >= n || now.Sub(at) > stall {
			return min(got, n), at, nil
		}
		select {
		case <-ctx.Done():
			return 0, time.Time{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// handlerStarts reads back the os.clock() each steady event's handler stored under lat:<i>;
// NaN for one that did not come while the others kept coming (stall).
func (h *hub) handlerStarts(ctx context.Context, sol string, n int, stall time.Duration) ([]float64, error) {
	out := make([]float64, n)
	lastProgress, stalled, have := time.Now(), false, -1
	for from := 0; from < n; {
		to := min(n, from+500)
		keys := make([]string, 0, to-from)
		for i := from; i < to; i++ {
			keys = append(keys, "lat:"+strconv.Itoa(i))
		}
		var raw json.RawMessage
		if err := h.sync(ctx, sol, "conn.dump", map[string]any{"keys": keys}, &raw); err != nil {
			return nil, err
		}
		var vals map[string]string
		json.Unmarshal(raw, &vals) //nolint:errcheck // an empty Lua table comes back as [], leaving it empty
		if len(vals) > have {
			have, lastProgress = len(vals), time.Now()
		}
		if len(vals) < len(keys) && !stalled {
			if time.Since(lastProgress) <= stall {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(10 * time.Millisecond):
				}
				continue
			}
			stalled = true // read the rest once, without waiting again
		}
		for j, k := range keys {
			v, ok := vals[k]
			if !ok {
				out[from+j] = math.NaN()
				continue
			}
			c, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("bad latency record %q for %s", v, k)
			}
			out[from+j] = c
		}
		from, have = to, -1
	}
	return out, nil
}

// clockOffset returns wall-clock ns minus the hub's os.clock()*1e9, from the sync call with
// the shortest of 200 round trips; the offset is right to within half of it (halfRTT, ns).
func (h *hub) clockOffset(ctx context.Context, sol string) (offset, halfRTT float64, err error) {
	halfRTT = math.Inf(1)
	for range 200 {
		var r struct {
			Clock float64 `json:"clock"`
		}
		t0 := time.Now().UnixNano()
		if err := h.sync(ctx, sol, "conn.clock", map[string]any{}, &r); err != nil {
			return 0, 0, err
		}
		t1 := time.Now().UnixNano()
		if half := float64(t1-t0) / 2; half < halfRTT {
			halfRTT = half
			offset = float64(t0) + half - r.Clock*1e9
		}
	}
	return offset, halfRTT, nil
}
