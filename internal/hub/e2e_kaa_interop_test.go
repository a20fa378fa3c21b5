package hub_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
)

// TestKaaInterop: Switchboard exchanges 23/AIP AutomationInvocations both ways with a peer
// built on avsc (the Avro library of Kaa's tutorials) and nats.js, over a real NATS
// connection: to the embedded server on --nats-listen, and to the NATS named by
// SWITCHBOARD_TEST_NATS_URL. The outside server keeps state between runs and is shared with
// other tests, so solution and instance names are unique per run.
func TestKaaInterop(t *testing.T) {
	dir := kaaPeerDir(t)
	t.Run("embedded", func(t *testing.T) {
		natsAddr := hubtest.FreeAddr(t)
		s := kaaHub(t, func(c *hub.Config) { c.NATSListen = natsAddr })
		token, err := os.ReadFile(filepath.Join(s.DataDir, "nats-token"))
		if err != nil {
			t.Fatalf("the embedded NATS's token: %v", err)
		}
		kaaExchange(t, s, kaaPeer{dir: dir, url: "nats://" + natsAddr, token: strings.TrimSpace(string(token))})
	})
	t.Run("outside", func(t *testing.T) {
		url := os.Getenv("SWITCHBOARD_TEST_NATS_URL")
		if url == "" {
			t.Skip("SWITCHBOARD_TEST_NATS_URL is not set (e.g. nats://127.0.0.1:4222 with JetStream); .ci/run sets it")
		}
		s := kaaHub(t, func(c *hub.Config) { c.NATSURL = url })
		kaaExchange(t, s, kaaPeer{dir: dir, url: url})
	})
}

// kaaInstance is the Kaa service instance name of the hubs kaaHub starts: it names the
// subject their trigger publishes on, which the peer subscribes to before anything is sent.
var kaaInstance = "sb-interop-" + randomHex()

func kaaHub(t *testing.T, bus func(*hub.Config)) *hubtest.Server {
	t.Helper()
	return hubtest.Start(t, bus, func(c *hub.Config) { c.KaaInstanceName = kaaInstance })
}

func randomHex() string {
	b := make([]byte, 4)
	rand.Read(b) //nolint:errcheck // never fails
	return hex.EncodeToString(b)
}

// kaaExchange runs both directions against hub s, the peer on the same NATS.
func kaaExchange(t *testing.T, s *hubtest.Server, peer kaaPeer) {
	sol := "kaa-" + randomHex()
	s.CreateSolution(t, sol)
	t.Cleanup(func() { s.Do(t, "DELETE", "/api/v1/solutions/"+sol, s.AdminToken, nil) })
	t.Run("kaa to switchboard", func(t *testing.T) { kaaToSwitchboard(t, s, peer, sol) })
	t.Run("switchboard to kaa", func(t *testing.T) { switchboardToKaa(t, s, peer, sol) })
}

// seenEvent is what the handler of automation.interop-in records of each event it runs.
type seenEvent struct {
	ID              string  `json:"id"`
	CorrelationID   string  `json:"correlation_id"`
	Data            any     `json:"data"`
	DataType        string  `json:"data_type"`
	DataContentType string  `json:"datacontenttype"`
	Source          string  `json:"source"`
	Expires         float64 `json:"expires"`
}

const recordEvent = `Keystore.set({key = "seen:" .. event.id, value = to_json({
  id = event.id, correlation_id = event.correlation_id, data = event.data, data_type = type(event.data),
  datacontenttype = event.datacontenttype, source = event.source, expires = event.expires})})
return true`

// kaaToSwitchboard: invocations the peer publishes as a Kaa trigger run the solution's
// handlers of automation.<type>, with event.data decoded from the payload as its content
// allows; one already expired never runs and is counted.
func kaaToSwitchboard(t *testing.T, s *hubtest.Server, peer kaaPeer, sol string) {
	const typ = "interop-in"
	if r := s.Do(t, "POST", "/api/v1/solutions/"+sol+"/handlers", s.AdminToken,
		map[string]any{"name": "record", "topics": []string{"automation." + typ}, "script": recordEvent}); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}
	trigger := "kaa-trigger-" + randomHex()
	subject := "kaa.v1.events." + trigger + ".service.automation." + typ
	binary := []byte{0xff, 0x00, 0xfe, 0x80, 'k', 'a', 'a'}
	now := time.Now().UnixMilli()
	cases := []struct {
		name     string
		payload  []byte // nil: Avro's null
		timeout  int64
		data     any
		dataType string
		ct       string
	}{
		{"json", []byte(`{"to":"ada@example.com","n":1,"tags":["a","b"]}`), 600000,
			map[string]any{"to": "ada@example.com", "n": float64(1), "tags": []any{"a", "b"}}, "table", "application/json"},
		{"text", []byte("grüße, Kaa"), 0, "grüße, Kaa", "string", "text/plain"},
		{"binary", binary, 0, base64.StdEncoding.EncodeToString(binary), "string", "application/octet-stream"},
		{"empty", []byte{}, 0, "", "string", "text/plain"},
		{"null", nil, 0, nil, "nil", ""},
	}
	id := func(name string) string { return "kaa-" + name + "-" + randomHex() }
	ids := map[string]string{}
	for _, tc := range cases {
		ids[tc.name] = id(tc.name)
		inv := peerInvocation{CorrelationID: ids[tc.name], Timestamp: now, Timeout: tc.timeout, TenantID: sol}
		if tc.payload != nil {
			b64 := base64.StdEncoding.EncodeToString(tc.payload)
			inv.Payload = &b64
		}
		peer.publish(t, subject, inv)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := recorded(t, s, sol, ids[tc.name])
			if got.ID != ids[tc.name] || got.CorrelationID != ids[tc.name] {
				t.Errorf("event.id %q, event.correlation_id %q, want both %q", got.ID, got.CorrelationID, ids[tc.name])
			}
			if !reflect.DeepEqual(got.Data, tc.data) || got.DataType != tc.dataType || got.DataContentType != tc.ct {
				t.Errorf("event.data %#v (%s, datacontenttype %q), want %#v (%s, %q)", got.Data, got.DataType, got.DataContentType, tc.data, tc.dataType, tc.ct)
			}
			if got.Source != "/kaa/"+trigger {
				t.Errorf("event.source %q, want /kaa/%s", got.Source, trigger)
			}
			if want := float64(now+tc.timeout) / 1000; tc.timeout > 0 && math.Abs(got.Expires-want) > 0.001 || tc.timeout == 0 && got.Expires != 0 {
				t.Errorf("event.expires %v, want %v (timeout %d)", got.Expires, want, tc.timeout)
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		late := id("expired")
		payload := base64.StdEncoding.EncodeToString([]byte(`{}`))
		peer.publish(t, subject, peerInvocation{CorrelationID: late, Timestamp: now - time.Hour.Milliseconds(), Timeout: 1000, TenantID: sol, Payload: &payload})
		labels := map[string]string{"type": typ, "tenant": sol}
		hubtest.Eventually(t, "the expired invocation to be counted", func() bool {
			v, _ := metricValue(string(s.Do(t, "GET", "/metrics", s.AdminToken, nil).Body), "switchboard_automation_invocations_expired_total", labels)
			return v == 1
		})
		// Counted as expired, it was dropped on receipt: no handler runs it later.
		if r := s.Do(t, "GET", ksPath(sol, "seen:"+late), s.AdminToken, nil); r.Status != http.StatusNotFound {
			t.Fatalf("the expired invocation ran: %d %s", r.Status, r.Body)
		}
	})
}

// recorded waits for the handler's record of event id.
func recorded(t *testing.T, s *hubtest.Server, sol, id string) seenEvent {
	t.Helper()
	var raw string
	hubtest.Eventually(t, "the handler to run invocation "+id, func() bool {
		r := s.Do(t, "GET", ksPath(sol, "seen:"+id), s.AdminToken, nil)
		raw, _ = r.Map(t)["value"].(string)
		return r.Status == http.StatusOK && raw != ""
	})
	var e seenEvent
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		t.Fatalf("the handler recorded %s: %v", raw, err)
	}
	return e
}

// switchboardToKaa: what the API and a script invoke arrives at the peer, subscribed as a Kaa
// executor would be, with the solution as tenant, a current timestamp, the timeout and the
// payload's bytes exactly.
func switchboardToKaa(t *testing.T, s *hubtest.Server, peer kaaPeer, sol string) {
	const typ = "interop-out"
	sub := peer.subscribe(t, "kaa.v1.events."+kaaInstance+".service.automation."+typ, 3)
	type want struct {
		timestamp int64 // as the API answered; 0 when not known
		timeout   int64
		payload   []byte
	}
	wants := map[string]want{}

	apiID, binary := "api-"+randomHex(), []byte{0x00, 0xff, 'K', 0xc3, 0x28, '\n'}
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/solutions/"+sol+"/automations/"+typ+"?timeout=30000&correlation_id="+apiID, bytes.NewReader(binary))
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	req.Header.Set("Content-Type", "application/octet-stream")
	r := s.Send(t, req)
	if r.Status != http.StatusAccepted {
		t.Fatalf("invoke over the API: %d %s", r.Status, r.Body)
	}
	var pub struct {
		CorrelationID string `json:"correlation_id"`
		Subject       string `json:"subject"`
		Timestamp     int64  `json:"timestamp"`
		TimeoutMS     int64  `json:"timeout_ms"`
		Tenant        string `json:"tenant"`
	}
	r.JSON(t, &pub)
	if pub.CorrelationID != apiID || pub.Subject != sub.subject || pub.TimeoutMS != 30000 || pub.Tenant != sol {
		t.Fatalf("invoke over the API answered %s", r.Body)
	}
	wants[apiID] = want{pub.Timestamp, 30000, binary}

	tableID, bytesID := "lua-table-"+randomHex(), "lua-bytes-"+randomHex()
	rr, run := runOnce(t, s, sol, s.AdminToken, map[string]any{"script": `
Automation.invoke{type = "` + typ + `", payload = {to = "ada", n = 2}, timeout = 5000, correlation_id = "` + tableID + `"}
Automation.invoke{type = "` + typ + `", payload = "bytes as they are: \255\0\n", correlation_id = "` + bytesID + `"}
return true`})
	if rr.Status != http.StatusOK {
		t.Fatalf("run the script: %d %s", rr.Status, rr.Body)
	}
	if run.Error != nil {
		t.Fatalf("the script's Automation.invoke: %s (line %d)", run.Error.Message, run.Error.Line)
	}
	wants[tableID] = want{0, 5000, []byte(`{"n":2,"to":"ada"}`)}
	wants[bytesID] = want{0, 0, []byte("bytes as they are: \xff\x00\n")}

	for range len(wants) {
		got := sub.next(t)
		w, ok := wants[got.CorrelationID]
		if !ok {
			t.Fatalf("the peer received an invocation it was not sent: %+v", got)
		}
		delete(wants, got.CorrelationID)
		if got.Subject != sub.subject || got.TenantID != sol || got.Timeout != w.timeout {
			t.Errorf("%s: on %s, tenant %q, timeout %d; want %s, %q, %d", got.CorrelationID, got.Subject, got.TenantID, got.Timeout, sub.subject, sol, w.timeout)
		}
		if age := time.Now().UnixMilli() - got.Timestamp; age < 0 || age > 5000 || w.timestamp != 0 && got.Timestamp != w.timestamp {
			t.Errorf("%s: timestamp %d (%d ms old), want within 5 s of now and %d as the API said", got.CorrelationID, got.Timestamp, age, w.timestamp)
		}
		var payload []byte
		if got.Payload != nil {
			payload, _ = base64.StdEncoding.DecodeString(*got.Payload)
		}
		if got.Payload == nil || !bytes.Equal(payload, w.payload) {
			t.Errorf("%s: payload %q, want %q", got.CorrelationID, payload, w.payload)
		}
	}
}
