package connector

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/internal/admission"
	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/solution"
)

// webhook: POST /hooks/{solution}/{name}, checked as GitHub, Stripe or a shared secret sign
// their calls; the body is the event's data.
func init() {
	Register(Kind{
		Type:        "webhook",
		Description: "Events from HTTP calls to POST /hooks/{solution}/{name}, signed as GitHub (X-Hub-Signature-256) or Stripe (Stripe-Signature) sign them, or carrying a shared secret.",
		Inbound:     true,
		Secrets:     []string{"secret"},
		Check: func(cfg json.RawMessage) error {
			_, _, err := checkWebhook(cfg)
			return err
		},
		Schema: `{
  "type": "object",
  "additionalProperties": false,
  "required": ["style"],
  "properties": {
    "style": {"enum": ["github", "stripe", "shared", "none"],
      "description": "how calls prove they come from the sender: github (HMAC-SHA256 of the body in X-Hub-Signature-256), stripe (Stripe-Signature: t=…,v1=…, HMAC-SHA256 of \"t.body\"), shared (the secret in a header), none (anyone may call)"},
    "secret": {"type": "string", "minLength": 8, "maxLength": 512},
    "header": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$", "description": "shared: the header carrying the secret; default X-Webhook-Secret"},
    "tolerance": {"type": "string", "description": "stripe: how old a signed timestamp may be; default 5m"},
    "id_header": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$", "description": "the header carrying the sender's delivery id, which dedupes a call sent again; default X-GitHub-Delivery (github), Idempotency-Key (others); stripe uses the event's own id"},
    "headers": {"type": "array", "maxItems": 16, "items": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$"},
      "description": "headers passed on as event extensions (name lower-cased, letters and digits only); default X-GitHub-Event for github"}
  }
}`,
	})
}

type webhookConfig struct {
	Style     string   `json:"style"`
	Secret    string   `json:"secret"`
	Header    string   `json:"header"`
	Tolerance string   `json:"tolerance"`
	IDHeader  string   `json:"id_header"`
	Headers   []string `json:"headers"`
}

// checkWebhook is what the schema cannot say.
func checkWebhook(raw json.RawMessage) (webhookConfig, time.Duration, error) {
	var cfg webhookConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return cfg, 0, &solution.FieldError{Field: "config", Reason: err.Error()}
	}
	if cfg.Style != "none" && cfg.Secret == "" {
		return cfg, 0, &solution.FieldError{Field: "config.secret", Reason: "required for style " + cfg.Style}
	}
	tol := 5 * time.Minute
	if cfg.Tolerance != "" {
		d, err := time.ParseDuration(cfg.Tolerance)
		if err != nil || d <= 0 || d > 24*time.Hour {
			return cfg, 0, &solution.FieldError{Field: "config.tolerance", Reason: fmt.Sprintf("%q: want a duration between 1s and 24h, such as 5m", cfg.Tolerance)}
		}
		tol = d
	}
	if cfg.Header == "" {
		cfg.Header = "X-Webhook-Secret"
	}
	if cfg.IDHeader == "" {
		cfg.IDHeader = map[bool]string{true: "X-GitHub-Delivery", false: "Idempotency-Key"}[cfg.Style == "github"]
	}
	if cfg.Headers == nil && cfg.Style == "github" {
		cfg.Headers = []string{"X-GitHub-Event"}
	}
	return cfg, tol, nil
}

// Webhook bounds.
const (
	// maxWebhooksInFlight bounds the calls being read and stored at once, all solutions
	// together; more are answered 429.
	maxWebhooksInFlight = 64
)

// Webhooks serves POST /hooks/{solution}/{name} for the webhook connectors of every
// solution.
type Webhooks struct {
	o     WebhookOptions
	slots chan struct{}
	now   func() time.Time
}

// WebhookOptions configure Webhooks.
type WebhookOptions struct {
	Store     *Store
	Publisher eventPublisher
	Logger    *slog.Logger
	// MaxBody bounds one call's body (413 beyond). Gate and Pace bound bodies as every other
	// route's are: what one solution, and all together, may hold (429/503), and how slowly a
	// body may come (408).
	MaxBody int64
	Gate    *admission.Gate // nil: no bound but maxWebhooksInFlight
	Pace    admission.Pace
}

// NewWebhooks returns the handler of webhook calls.
func NewWebhooks(o WebhookOptions) *Webhooks {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Webhooks{o: o, slots: make(chan struct{}, maxWebhooksInFlight), now: time.Now}
}

func (h *Webhooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		hookError(w, http.StatusMethodNotAllowed, "webhooks take POST")
		return
	}
	sol, name := r.PathValue("solution"), r.PathValue("name")
	c, ok := h.o.Store.Get(sol, name)
	if !ok || c.Type != "webhook" {
		hookError(w, http.StatusNotFound, "no webhook "+name+" in solution "+sol)
		return
	}
	if c.Paused {
		w.Header().Set("Retry-After", "60")
		hookError(w, http.StatusServiceUnavailable, "webhook "+name+" is paused")
		return
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		w.Header().Set("Retry-After", "1")
		hookError(w, http.StatusTooManyRequests, "too many webhook calls at once; try again")
		return
	}
	cfg, tol, err := checkWebhook(c.Config)
	if err != nil {
		h.o.Logger.Error("webhook connector with a config its type refuses", "solution", sol, "connector", name, "err", err)
		hookError(w, http.StatusServiceUnavailable, "webhook "+name+" is misconfigured")
		return
	}
	var ticket *admission.Ticket
	if h.o.Gate != nil {
		ticket = h.o.Gate.Open(sol)
	}
	defer ticket.Release()
	body, err := h.o.Pace.ReadRequest(w, r, ticket, h.o.MaxBody)
	var tooBig *http.MaxBytesError
	var refused *admission.Error
	switch {
	case errors.As(err, &refused):
		// As the API answers a refusal: the bound reached, and when to try again.
		w.Header().Set("Retry-After", strconv.Itoa(int(admission.RetryAfter/time.Second)))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(refused.Status())
		json.NewEncoder(w).Encode(map[string]string{"error": refused.Error(), "bound": refused.Reason}) //nolint:errcheck // client gone
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		hookError(w, http.StatusRequestTimeout, "the body came too slowly")
		return
	case errors.As(err, &tooBig):
		hookError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", tooBig.Limit))
		return
	case err != nil:
		hookError(w, http.StatusBadRequest, "body not read: "+err.Error())
		return
	}
	if err := verify(cfg, tol, r.Header, body, h.now()); err != nil {
		// The reason stays in the log: a caller guessing secrets learns nothing from it.
		h.o.Logger.Info("webhook call refused", "solution", sol, "connector", name, "err", err)
		hookError(w, http.StatusUnauthorized, "signature missing or not valid")
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	m := Message{ID: r.Header.Get(cfg.IDHeader), Data: body, ContentType: mt}
	if cfg.Style == "stripe" {
		var ev struct{ ID string }
		if json.Unmarshal(body, &ev) == nil {
			m.ID = ev.ID
		}
	}
	for _, hd := range cfg.Headers {
		if v := r.Header.Get(hd); v != "" {
			if m.Extensions == nil {
				m.Extensions = map[string]string{}
			}
			m.Extensions[extensionName(hd)] = v
		}
	}
	e, err := EventOf(c, m)
	if err != nil {
		hookError(w, http.StatusBadRequest, err.Error())
		return
	}
	if e.ID == "" {
		e.ID = events.NewID()
	}
	err = h.o.Publisher.EnqueueBatch(r.Context(), []events.Event{e})[0]
	var fe *solution.FieldError
	switch {
	case err == nil:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(map[string]string{"id": e.ID}) //nolint:errcheck // client gone
	case errors.Is(err, events.ErrNoHandler):
		hookError(w, http.StatusNotFound, fmt.Sprintf("no handler of solution %s subscribes to topic %q", sol, c.Topic))
	case errors.As(err, &fe):
		hookError(w, http.StatusBadRequest, fe.Error())
	default:
		h.o.Logger.Error("webhook call not stored", "solution", sol, "connector", name, "err", err)
		w.Header().Set("Retry-After", "1")
		hookError(w, http.StatusServiceUnavailable, "not stored; try again")
	}
}

// verify checks that a call comes from the sender, as cfg's style says.
func verify(cfg webhookConfig, tol time.Duration, h http.Header, body []byte, now time.Time) error {
	switch cfg.Style {
	case "none":
		return nil
	case "shared":
		got := h.Get(cfg.Header)
		if subtle.ConstantTimeCompare([]byte(got), []byte(cfg.Secret)) != 1 {
			return fmt.Errorf("%s missing or wrong", cfg.Header)
		}
		return nil
	case "github":
		sig, ok := strings.CutPrefix(h.Get("X-Hub-Signature-256"), "sha256=")
		if !ok {
			return errors.New("X-Hub-Signature-256 missing")
		}
		return sameMAC(sig, cfg.Secret, body)
	case "stripe":
		var ts string
		var sigs []string
		for part := range strings.SplitSeq(h.Get("Stripe-Signature"), ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "t":
				ts = v
			case "v1":
				sigs = append(sigs, v)
			}
		}
		secs, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || len(sigs) == 0 {
			return errors.New("Stripe-Signature missing t= or v1=")
		}
		if age := now.Sub(time.Unix(secs, 0)); age > tol || age < -tol {
			return fmt.Errorf("Stripe-Signature timestamp %s is outside the tolerance of %s", time.Unix(secs, 0).UTC(), tol)
		}
		signed := append([]byte(ts+"."), body...)
		for _, s := range sigs {
			if sameMAC(s, cfg.Secret, signed) == nil {
				return nil
			}
		}
		return errors.New("no v1 signature of Stripe-Signature matches")
	}
	return fmt.Errorf("unknown style %q", cfg.Style)
}

// sameMAC checks a hex HMAC-SHA256 of data under secret, in constant time.
func sameMAC(sigHex, secret string, data []byte) error {
	got, err := hex.DecodeString(sigHex)
	if err != nil {
		return errors.New("signature is not hex")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(data)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errors.New("signature does not match")
	}
	return nil
}

// extensionName is a CloudEvents extension name for a header: lower-case letters and digits,
// at most 20.
func extensionName(header string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(header) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	s := b.String()
	return s[:min(len(s), 20)]
}

func hookError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg}) //nolint:errcheck // client gone
}
