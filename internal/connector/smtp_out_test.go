package connector

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/switchboardhq/switchboard/internal/solution"
)

// mailServer is an SMTP server on 127.0.0.1 keeping what it is sent.
type mailServer struct {
	addr, host, port string
	roots            *x509.CertPool // trusting its certificate
	users            map[string]string
	// rcptErr is what RCPT TO answers for an address, if anything but OK.
	rcptErr map[string]error

	mu  sync.Mutex
	got []gotMail
}

// gotMail is one message as the server took it.
type gotMail struct {
	helo, user string
	tls        bool
	from       string
	to         []string
	utf8       bool
	data       []byte
}

// startMailServer serves SMTP: mode "starttls" offers STARTTLS, "tls" is TLS from the start,
// "none" plain; with users, AUTH PLAIN is required.
func startMailServer(t *testing.T, mode string, users map[string]string) *mailServer {
	t.Helper()
	ms := &mailServer{users: users, rcptErr: map[string]error{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &mailSession{ms: ms, c: c}, nil
	}))
	srv.Domain = "mx.test"
	srv.ErrorLog = quietLog{}
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.EnableSMTPUTF8 = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if mode != "none" {
		var cert tls.Certificate
		cert, ms.roots = selfSigned(t)
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
		if mode == "tls" {
			ln = tls.NewListener(ln, cfg)
		} else {
			srv.TLSConfig = cfg
		}
	}
	ms.addr = ln.Addr().String()
	ms.host, ms.port, _ = net.SplitHostPort(ms.addr)
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return ms
}

func (ms *mailServer) mails() []gotMail {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]gotMail(nil), ms.got...)
}

type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}

type mailSession struct {
	ms   *mailServer
	c    *smtp.Conn
	user string
	m    gotMail
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if want, ok := s.ms.users[user]; !ok || want != pass {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.ms.users != nil && s.user == "" {
		return smtp.ErrAuthRequired
	}
	_, isTLS := s.c.TLSConnectionState()
	s.m = gotMail{helo: s.c.Hostname(), user: s.user, tls: isTLS, from: from, utf8: opts != nil && opts.UTF8}
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := s.ms.rcptErr[to]; err != nil {
		return err
	}
	s.m.to = append(s.m.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.data = b
	s.ms.mu.Lock()
	s.ms.got = append(s.ms.got, s.m)
	s.ms.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.m = gotMail{} }
func (s *mailSession) Logout() error { return nil }

// selfSigned is a certificate for 127.0.0.1 and localhost, and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// smtpSenderFor is the sender of config fields extra for ms, trusting its certificate.
func smtpSenderFor(t *testing.T, ms *mailServer, extra string) Sender {
	t.Helper()
	s := newSender(t, "smtp", fmt.Sprintf(`{"host":%q,"port":%s,%s}`, ms.host, ms.port, extra))
	s.(*smtpSender).roots = ms.roots
	return s
}

// mailJSON is the data of a publish.
func mailJSON(t *testing.T, v map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSMTPOut: a message reaches the server over STARTTLS (logged in), implicit TLS or plain,
// with its envelope, RFC 5322 headers (the subject Q-encoded) and a quoted-printable body
// that decodes to the text sent; the answer's id is its Message-ID.
func TestSMTPOut(t *testing.T) {
	body := "Temperature 97.5 °C at the boiler.\n" + strings.Repeat("long line ", 30) + "\n.a line starting with a dot\n"
	for _, tc := range []struct {
		name, mode, extra string
		users             map[string]string
		wantUser, helo    string
	}{
		{"starttls, logged in", "starttls", `"username":"hub","password":"s3cret","helo":"hub.example.com"`, map[string]string{"hub": "s3cret"}, "hub", "hub.example.com"},
		{"implicit tls", "tls", `"tls":"tls"`, nil, "", "localhost"},
		{"plain", "none", `"tls":"none"`, nil, "", "localhost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := startMailServer(t, tc.mode, tc.users)
			s := smtpSenderFor(t, ms, tc.extra)
			data := mailJSON(t, map[string]any{
				"recipient": []string{"ops@example.com", "Zoë Ops <zoe@example.org>"}, "sender": "Kaa <kaa@example.net>",
				"subject": "Überhitzung: boiler 7", "message": body, "endpoint": "ep-1", // endpoint: ignored
			})
			r, err := send(t, s, Outgoing{Data: data, ID: "m-1", ContentType: "application/json"})
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			if r.ID != "m-1@example.net" || r.Fields["recipients"] != 2 || r.Fields["reply"] == "" {
				t.Fatalf("receipt %+v", r)
			}
			got := ms.mails()
			if len(got) != 1 {
				t.Fatalf("%d messages", len(got))
			}
			g := got[0]
			if g.from != "kaa@example.net" || strings.Join(g.to, ",") != "ops@example.com,zoe@example.org" || g.user != tc.wantUser ||
				g.tls != (tc.mode != "none") || g.helo != tc.helo || g.utf8 {
				t.Fatalf("envelope %+v", g)
			}
			msg, err := mail.ReadMessage(bytes.NewReader(g.data))
			if err != nil {
				t.Fatal(err)
			}
			h := msg.Header
			subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
			if err != nil || subject != "Überhitzung: boiler 7" {
				t.Errorf("subject %q (%q), %v", subject, h.Get("Subject"), err)
			}
			from, _ := h.AddressList("From")
			to, _ := h.AddressList("To")
			if len(from) != 1 || from[0].Name != "Kaa" || len(to) != 2 || to[1].Name != "Zoë Ops" || to[1].Address != "zoe@example.org" {
				t.Errorf("From %v, To %v", from, to)
			}
			if d, err := h.Date(); err != nil || time.Since(d) > time.Minute {
				t.Errorf("Date %q: %v", h.Get("Date"), err)
			}
			if h.Get("Message-ID") != "<"+r.ID+">" || h.Get("MIME-Version") != "1.0" || h.Get("Content-Type") != "text/plain; charset=utf-8" ||
				h.Get("Content-Transfer-Encoding") != "quoted-printable" {
				t.Errorf("headers %v", h)
			}
			raw, _ := io.ReadAll(msg.Body)
			for _, line := range strings.Split(string(raw), "\r\n") {
				if len(line) > 78 {
					t.Errorf("a body line of %d bytes", len(line))
				}
			}
			dec, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
			if err != nil || strings.ReplaceAll(string(dec), "\r\n", "\n") != body {
				t.Errorf("body %q, %v", dec, err)
			}
		})
	}
}

// TestSMTPOutDefaults: the config's from stands in for a payload without sender, and the
// recipient argument of the publish for the payload's; a single address is a string.
func TestSMTPOutDefaults(t *testing.T) {
	ms := startMailServer(t, "none", nil)
	s := smtpSenderFor(t, ms, `"tls":"none","from":"Alerts <alerts@example.com>"`)
	r, err := send(t, s, Outgoing{To: "a@example.com, b@example.com", Data: mailJSON(t, map[string]any{"recipient": "c@example.com", "message": "hi"})})
	if err != nil || r.Fields["recipients"] != 2 {
		t.Fatalf("send: %+v, %v", r, err)
	}
	got := ms.mails()
	if len(got) != 1 || got[0].from != "alerts@example.com" || strings.Join(got[0].to, ",") != "a@example.com,b@example.com" {
		t.Fatalf("received %+v", got)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(got[0].data))
	if err != nil || msg.Header.Get("From") != `"Alerts" <alerts@example.com>` || msg.Header.Get("Subject") != "" {
		t.Fatalf("headers %v, %v", msg.Header, err)
	}
}

// TestSMTPOutRefused: data a retry would not mend is an *ArgError naming the field, sent
// nowhere; the server's 5xx (a wrong password, a recipient refused) is permanent, its 4xx and
// a server not there are worth another attempt.
func TestSMTPOutRefused(t *testing.T) {
	ms := startMailServer(t, "starttls", map[string]string{"hub": "s3cret"})
	ms.rcptErr["full@example.com"] = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
	ms.rcptErr["gone@example.com"] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	const auth = `"username":"hub","password":"s3cret","max_recipients":2`
	ok := map[string]any{"recipient": "ops@example.com", "sender": "kaa@example.net", "subject": "s", "message": "m"}
	with := func(k string, v any) []byte {
		d := map[string]any{}
		for k, v := range ok {
			d[k] = v
		}
		if v == nil {
			delete(d, k)
		} else {
			d[k] = v
		}
		return mailJSON(t, d)
	}
	for _, tc := range []struct {
		name, extra string
		m           Outgoing
		arg         string // the *ArgError's argument
		permanent   bool   // else transient, when arg is ""
		want        string // in the error
	}{
		{"not JSON", auth, Outgoing{Data: []byte("x")}, "data", true, "JSON object"},
		{"a list", auth, Outgoing{Data: []byte(`[1]`)}, "data", true, ""},
		{"bad address", auth, Outgoing{Data: with("recipient", "ops@")}, "data.recipient", true, ""},
		{"bad address in a list", auth, Outgoing{Data: with("recipient", []string{"a@example.com", "no address"})}, "data.recipient", true, "[1]"},
		{"recipient a number", auth, Outgoing{Data: with("recipient", 7)}, "data.recipient", true, "required"},
		{"no recipient", auth, Outgoing{Data: with("recipient", nil)}, "data.recipient", true, "required"},
		{"bad recipient argument", auth, Outgoing{To: "x", Data: with("recipient", nil)}, "recipient", true, ""},
		{"too many recipients", auth, Outgoing{Data: with("recipient", []string{"a@example.com", "b@example.com", "c@example.com"})}, "data.recipient", true, "max_recipients"},
		{"too many in the argument", auth, Outgoing{To: "a@example.com,b@example.com,c@example.com", Data: with("recipient", nil)}, "recipient", true, "max_recipients"},
		{"CR LF in the subject", auth, Outgoing{Data: with("subject", "hi\r\nBcc: victim@example.com")}, "data.subject", true, "line break"},
		{"LF in the sender's name", auth, Outgoing{Data: with("sender", "Kaa\n <kaa@example.net>")}, "data.sender", true, "line break"},
		{"subject too long", auth, Outgoing{Data: with("subject", strings.Repeat("s", 501))}, "data.subject", true, "500"},
		{"no sender", auth, Outgoing{Data: with("sender", nil)}, "data.sender", true, "from"},
		{"no message", auth, Outgoing{Data: with("message", nil)}, "data.message", true, ""},
		{"wrong password", `"username":"hub","password":"wrong"`, Outgoing{Data: with("sender", "kaa@example.net")}, "", true, "535"},
		{"recipient refused", auth, Outgoing{Data: with("recipient", "gone@example.com")}, "", true, "550"},
		{"mailbox full", auth, Outgoing{Data: with("recipient", "full@example.com")}, "", false, "452"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(ms.mails())
			_, err := send(t, smtpSenderFor(t, ms, tc.extra), tc.m)
			var ae *ArgError
			switch {
			case err == nil:
				t.Fatal("sent")
			case tc.arg != "" && (!errors.As(err, &ae) || ae.Arg != tc.arg):
				t.Fatalf("%v, want an error naming %s", err, tc.arg)
			case isPermanent(err) != tc.permanent:
				t.Fatalf("%v: permanent %v, want %v", err, isPermanent(err), tc.permanent)
			case !strings.Contains(err.Error(), tc.want):
				t.Fatalf("%v, want it to say %q", err, tc.want)
			case strings.Contains(err.Error(), "s3cret"):
				t.Fatalf("the password shown: %v", err)
			}
			if n := len(ms.mails()); n != before {
				t.Fatalf("%d messages taken", n-before)
			}
		})
	}
}

// TestSMTPOutConnection: a server not there is worth another attempt; one without STARTTLS,
// or whose certificate is not trusted, is refused for good rather than sent in clear.
func TestSMTPOutConnection(t *testing.T) {
	plain := startMailServer(t, "none", nil)
	tlsOnly := startMailServer(t, "starttls", nil)
	m := Outgoing{Data: []byte(`{"recipient":"a@example.com","sender":"b@example.com","message":"m"}`)}
	for _, tc := range []struct {
		name      string
		s         Sender
		permanent bool
		want      string
	}{
		{"no server", newSender(t, "smtp", fmt.Sprintf(`{"host":"127.0.0.1","port":%s,"tls":"none"}`, strings.TrimPrefix(freeAddr(t), "127.0.0.1:"))), false, "127.0.0.1"},
		{"no STARTTLS", smtpSenderFor(t, plain, `"tls":"starttls"`), true, "STARTTLS"},
		{"certificate not trusted", newSender(t, "smtp", fmt.Sprintf(`{"host":%q,"port":%s}`, tlsOnly.host, tlsOnly.port)), true, "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := send(t, tc.s, m)
			if err == nil || isPermanent(err) != tc.permanent || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v: want an error saying %q, permanent %v", err, tc.want, tc.permanent)
			}
		})
	}
	if n := len(plain.mails()) + len(tlsOnly.mails()); n != 0 {
		t.Fatalf("%d messages taken", n)
	}
}

// TestCheckSMTP: an smtp connector is outbound only, refused naming direction otherwise, and
// its config is checked naming the field at fault; its password is never shown back.
func TestCheckSMTP(t *testing.T) {
	c := func(dir, cfg string) Connector {
		return Connector{Solution: "demo", Name: "mail", Type: "smtp", Direction: dir, Config: json.RawMessage(cfg)}
	}
	for _, tc := range []struct {
		name  string
		c     Connector
		field string // "" = valid
	}{
		{"submission", c("out", `{"host":"smtp.example.com","username":"u","password":"p","from":"Alerts <a@example.com>","helo":"hub.example.com","max_recipients":1000,"timeout":"10s"}`), ""},
		{"implicit tls", c("out", `{"host":"smtp.example.com","tls":"tls"}`), ""},
		{"local relay", c("out", `{"host":"127.0.0.1","port":25,"tls":"none"}`), ""},
		{"ipv6", c("out", `{"host":"::1","tls":"none"}`), ""},
		{"direction in", Connector{Solution: "demo", Name: "mail", Type: "smtp", Direction: "in", Topic: "mails", Config: json.RawMessage(`{"host":"h"}`)}, "direction"},
		{"no direction", Connector{Solution: "demo", Name: "mail", Type: "smtp", Config: json.RawMessage(`{"host":"h"}`)}, "direction"},
		{"no host", c("out", `{"port":25}`), "config"},
		{"host with a port", c("out", `{"host":"smtp.example.com:25"}`), "config.host"},
		{"host a URL", c("out", `{"host":"smtp://smtp.example.com"}`), "config.host"},
		{"tls ssl", c("out", `{"host":"h","tls":"ssl"}`), "config.tls"},
		{"port 0", c("out", `{"host":"h","port":0}`), "config.port"},
		{"password alone", c("out", `{"host":"h","password":"p"}`), "config.username"},
		{"username alone", c("out", `{"host":"h","username":"u"}`), "config.password"},
		{"password in clear", c("out", `{"host":"h","tls":"none","username":"u","password":"p"}`), "config.password"},
		{"bad from", c("out", `{"host":"h","from":"alerts"}`), "config.from"},
		{"from with a line break", c("out", `{"host":"h","from":"a@example.com\r\nBcc: x@example.com"}`), "config.from"},
		{"helo with a space", c("out", `{"host":"h","helo":"a b"}`), "config.helo"},
		{"max_recipients 1001", c("out", `{"host":"h","max_recipients":1001}`), "config.max_recipients"},
		{"unknown field", c("out", `{"host":"h","to":"a@example.com"}`), "config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Check(tc.c)
			var fe *solution.FieldError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
				t.Fatalf("%v, want an error naming %s", err, tc.field)
			}
		})
	}
	r := c("out", `{"host":"h","username":"u","password":"pw-secret-6"}`).Redacted()
	if strings.Contains(string(r.Config), "pw-secret-6") || !strings.Contains(string(r.Config), "(set)") {
		t.Errorf("redacted %s", r.Config)
	}
}

// TestMailRender: a subject too long for one encoded word is folded into lines each under
// 998 bytes, and decodes whole; many recipients fold the To header.
func TestMailRender(t *testing.T) {
	subject := strings.Repeat("Größe ", 62) // 496 bytes
	to := make([]string, 40)
	for i := range to {
		to[i] = fmt.Sprintf("user%d@example.com", i)
	}
	ml, err := parseMail(Outgoing{ID: "x", Data: mailJSON(t, map[string]any{"recipient": to, "sender": "a@example.com", "subject": subject, "message": ""})}, nil, 50)
	if err != nil {
		t.Fatal(err)
	}
	raw := ml.render(time.Now())
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Fatalf("a line of %d bytes", len(line))
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil || got != subject {
		t.Fatalf("subject %q, %v", got, err)
	}
	if list, err := msg.Header.AddressList("To"); err != nil || len(list) != 40 {
		t.Fatalf("To: %d, %v", len(list), err)
	}
}
