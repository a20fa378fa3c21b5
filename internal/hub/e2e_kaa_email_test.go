package hub_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go"

	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/hubtest"
	"github.com/switchboardhq/switchboard/internal/kaa"
)

// sentMail is a message the test's SMTP server took.
type sentMail struct {
	from string
	to   []string
	data string
}

// mailSink is an SMTP backend handing each message it takes to a channel.
type mailSink struct{ got chan sentMail }

func (b mailSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSinkSession{b: b}, nil }

type mailSinkSession struct {
	b mailSink
	m sentMail
}

func (s *mailSinkSession) Mail(from string, _ *smtp.MailOptions) error { s.m.from = from; return nil }
func (s *mailSinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.to = append(s.m.to, to)
	return nil
}
func (s *mailSinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.m.data = string(b)
	s.b.got <- s.m
	return err
}
func (s *mailSinkSession) Reset()        { s.m = sentMail{} }
func (s *mailSinkSession) Logout() error { return nil }

// TestKaaEmailNotification: Kaa's email-notification automation, published on the bus by a
// trigger that knows nothing of Switchboard, becomes a mail on the solution's SMTP server,
// through an smtp connector and a one-line handler.
func TestKaaEmailNotification(t *testing.T) {
	got := make(chan sentMail, 4)
	srv := smtp.NewServer(mailSink{got: got})
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	host, port, _ := net.SplitHostPort(ln.Addr().String())

	natsAddr := hubtest.FreeAddr(t)
	s := hubtest.Start(t, func(c *hub.Config) { c.NATSListen = natsAddr })
	s.CreateSolution(t, "plant")
	conn := map[string]any{"name": "mail", "type": "smtp", "direction": "out",
		"config": map[string]any{"host": host, "port": portNumber(t, port), "tls": "none", "from": "Plant <plant@example.com>"}}
	if r := s.Do(t, "POST", "/api/v1/solutions/plant/connectors", s.AdminToken, conn); r.Status != http.StatusCreated {
		t.Fatalf("create smtp connector: %d %s", r.Status, r.Body)
	}
	h := map[string]any{"name": "email-notification", "topics": []string{"automation.email-notification"},
		"script": `local r = Outbound.publish{connector = "mail", data = event.data} if r.error then error(r.error) end`}
	if r := s.Do(t, "POST", "/api/v1/solutions/plant/handlers", s.AdminToken, h); r.Status != http.StatusCreated {
		t.Fatalf("deploy handler: %d %s", r.Status, r.Body)
	}

	// The trigger: a NATS client on the embedded server's listener, with its token.
	token, err := os.ReadFile(filepath.Join(s.DataDir, "nats-token"))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://"+natsAddr, nats.Token(strings.TrimSpace(string(token))))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	payload := []byte(`{"recipient":"ops@example.com","sender":"alerts@example.com","subject":"Boiler 7 at 97 C","message":"Over the threshold since 03:12."}`)
	data, err := kaa.Encode(kaa.Invocation{CorrelationID: "rule-42", Timestamp: time.Now().UnixMilli(), Timeout: 60_000, TenantID: "plant", Payload: &payload})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("kaa.v1.events.kaa-rules.service.automation.email-notification", data); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	select {
	case m := <-got:
		if m.from != "alerts@example.com" || len(m.to) != 1 || m.to[0] != "ops@example.com" {
			t.Errorf("envelope from %q to %v", m.from, m.to)
		}
		for _, want := range []string{"Subject: Boiler 7 at 97 C", "To: <ops@example.com>", "Over the threshold since 03:12."} {
			if !strings.Contains(m.data, want) {
				t.Errorf("the mail lacks %q:\n%s", want, m.data)
			}
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no mail within 20s; the hub's log:\n%s", s.Logs.String())
	}
	hubtest.Eventually(t, "the run to be counted executed", func() bool {
		return automationMetric(t, s, "executed", "email-notification", "plant") == 1
	})
}

func portNumber(t *testing.T, port string) int {
	t.Helper()
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("port %q: %v", port, err)
	}
	return n
}
