package servicekit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultRetryMinDelay   = 500 * time.Millisecond
	DefaultRetryMaxDelay   = 30 * time.Second
	DefaultMaxBodyBytes    = 10 << 20
	DefaultShutdownTimeout = 10 * time.Second
)

// namePattern is what a service name must match: the hub reaches a namespaced service at
// {name}.{namespace}, a Kubernetes service name.
var namePattern = regexp.MustCompile(`^[a-z0-9]+$`)

// Config configures a Service. Name and Document are required; HubURL and RegistrationToken
// are required to register, call and trigger.
type Config struct {
	// Name is the service's name, lowercase letters and digits ("demoexternalservice").
	// Scripts call it by its capitalized alias (Demoexternalservice.callService{...}).
	Name string
	// HubURL is the hub's base URL, e.g. "http://switchboard:8080".
	HubURL string
	// RegistrationToken is the hub's registration token (its data/registration-token file).
	RegistrationToken string
	// Document is the service's OpenAPI document, Swagger 2.0 or OpenAPI 3, in YAML or JSON.
	// Its host (and schemes) or servers tell the hub where to reach the service.
	Document []byte
	// Host, when set, replaces the host[:port] of the document (Swagger 2.0 host, the host of
	// OpenAPI 3 absolute server URLs) in what is registered: the address at which the hub
	// reaches the service, often known only at startup ("10.0.0.7:8091").
	Host string
	// Namespace is the Kubernetes namespace of the service when it differs from the hub's:
	// the hub then reaches it at {Name}.{Namespace}:{port of the document's host}.
	Namespace string
	// PlatformNamespace is the Kubernetes namespace of the hub, sent along with Namespace.
	PlatformNamespace string
	// Token is the service token of an earlier registration, e.g. from a secret. The hub
	// updates a registered name only for a registration that presents the service's own token,
	// so a restarted service must have it: set Token or TokenFile.
	Token string
	// TokenFile keeps the service token across restarts: when Token is empty it is read from
	// this file at New (a missing file is fine: the first registration writes it), and the file
	// is written (mode 0600) whenever the hub answers with another token. Empty: the token is
	// kept in memory only.
	TokenFile string
	// Logger receives the service's logs; nil means slog.Default().
	Logger *slog.Logger

	// HTTPClient makes the requests to the hub; nil means a client without timeout (calls are
	// bounded by their context).
	HTTPClient *http.Client
	// InsecureSkipVerify turns off the check of the hub's signature on incoming calls. For
	// local testing only: anybody who can reach the service can then call it. Verification is
	// on unless this is set.
	InsecureSkipVerify bool
	// HealthCheck, when set, is asked on every probe of the health path; an error makes the
	// probe answer 503. Nil means the service is healthy whenever it is serving.
	HealthCheck func(context.Context) error
	// MaxAttempts bounds the registration attempts of Register; 0 means no bound (Register
	// retries until its context is done).
	MaxAttempts int
	// RetryMinDelay and RetryMaxDelay bound the backoff between registration attempts: the
	// delay starts at RetryMinDelay and doubles up to RetryMaxDelay, with jitter. Zero means
	// DefaultRetryMinDelay and DefaultRetryMaxDelay.
	RetryMinDelay, RetryMaxDelay time.Duration
	// MaxBodyBytes bounds the body of an incoming call (413 beyond); 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// ShutdownTimeout bounds how long Run waits for calls in progress once its context is
	// done; 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
}

// HandlerFunc serves one operation. The result is answered as JSON with status 200 (204 when
// it is nil; a json.RawMessage is sent as is). An error is answered as {"error": message} with
// the Status of an *Error, 500 for any other error.
type HandlerFunc func(ctx context.Context, req *Request) (any, error)

// Service is a Switchboard dynamic service. Its methods are safe for concurrent use.
type Service struct {
	cfg     Config
	doc     *document
	swagger json.RawMessage // the registration's swagger field
	log     *slog.Logger
	client  *http.Client
	now     func() time.Time

	mu         sync.RWMutex
	handlers   map[string]HandlerFunc
	token      string
	prior      string        // the token presented on registration: Token, TokenFile's or the last answered
	registered chan struct{} // closed at the first successful registration
}

// New checks cfg and reads the operations of cfg.Document. It does not contact the hub.
func New(cfg Config) (*Service, error) {
	if !namePattern.MatchString(cfg.Name) {
		return nil, fmt.Errorf("servicekit: name %q must be lowercase letters and digits", cfg.Name)
	}
	doc, err := parseDocument(cfg.Document)
	if err != nil {
		return nil, fmt.Errorf("servicekit: %w", err)
	}
	cfg.HubURL = strings.TrimRight(cfg.HubURL, "/")
	if cfg.RetryMinDelay <= 0 {
		cfg.RetryMinDelay = DefaultRetryMinDelay
	}
	if cfg.RetryMaxDelay <= 0 {
		cfg.RetryMaxDelay = DefaultRetryMaxDelay
	}
	if cfg.RetryMaxDelay < cfg.RetryMinDelay {
		cfg.RetryMaxDelay = cfg.RetryMinDelay
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	s := &Service{cfg: cfg, doc: doc, log: cfg.Logger, client: cfg.HTTPClient, now: time.Now, handlers: map[string]HandlerFunc{}, registered: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.prior = strings.TrimSpace(cfg.Token)
	if s.prior == "" && cfg.TokenFile != "" {
		b, err := os.ReadFile(cfg.TokenFile)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("servicekit: token file: %w", err)
		}
		s.prior = strings.TrimSpace(string(b))
	}
	if s.client == nil {
		s.client = &http.Client{}
	}
	if cfg.Host != "" {
		if s.swagger, err = doc.withHost(cfg.Host); err != nil {
			return nil, fmt.Errorf("servicekit: %w", err)
		}
	} else if s.swagger, err = json.Marshal(string(cfg.Document)); err != nil { // the text as is, YAML or JSON
		return nil, fmt.Errorf("servicekit: %w", err)
	}
	return s, nil
}

// Name is the service's name.
func (s *Service) Name() string { return s.cfg.Name }

// Operations are the operationIds of the document, sorted.
func (s *Service) Operations() []string {
	ids := make([]string, 0, len(s.doc.routes))
	for _, r := range s.doc.routes {
		ids = append(ids, r.id)
	}
	slices.Sort(ids)
	return ids
}

// HealthPath is the path the hub probes: x-exosite-health-path, else the base path, else "/".
// It is a path on the service's host, not under the base path.
func (s *Service) HealthPath() string { return s.doc.healthPath }

// Handle sets the function serving the operation operationID of the document. It panics if
// the document has no such operation or fn is nil, like http.ServeMux.Handle on a bad pattern.
// An operation without a function is answered with 501.
func (s *Service) Handle(operationID string, fn HandlerFunc) {
	if fn == nil {
		panic("servicekit: Handle: nil function for " + operationID)
	}
	if _, ok := s.doc.byID[operationID]; !ok {
		panic(fmt.Sprintf("servicekit: Handle: the document has no operation %q (it has %s)", operationID, strings.Join(s.Operations(), ", ")))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[operationID] = fn
}

// Token is the service token the hub gave at the last successful registration, "" before.
// The hub signs its calls with it, and the service presents it on calls and triggers.
func (s *Service) Token() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.token
}

// Registered is closed once the service has registered (and Token is set), for readiness
// checks or for work that needs the hub.
func (s *Service) Registered() <-chan struct{} { return s.registered }

func (s *Service) setToken(t string) {
	s.mu.Lock()
	changed := t != s.prior
	s.token, s.prior = t, t
	select {
	case <-s.registered:
	default:
		close(s.registered)
	}
	s.mu.Unlock()
	if changed && s.cfg.TokenFile != "" {
		// The service works on; but restarted without its token, it could not update its
		// registration, so this is an error worth fixing.
		if err := writeTokenFile(s.cfg.TokenFile, t); err != nil {
			s.log.Error("servicekit: could not keep the service token", "file", s.cfg.TokenFile, "error", err)
		}
	}
}

// priorToken is the token to present when registering: the last one the hub gave, else the
// configured one.
func (s *Service) priorToken() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.prior
}

// writeTokenFile replaces file with token, readable by its owner only.
func writeTokenFile(file, token string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), filepath.Base(file)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if _, err := tmp.WriteString(token + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

func (s *Service) handler(id string) HandlerFunc {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.handlers[id]
}

// Error is a failure the hub answered (Register, Call, Trigger), or one a HandlerFunc returns
// to choose the status of its answer.
type Error struct {
	// Status is the HTTP status: the hub's for its answers, the one to answer with for a
	// handler's error.
	Status int
	// Message is the reason: the hub's "error" field, or the text of its answer.
	Message string
	// Field is the field of the registration at fault, when the hub names one (422).
	Field string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("HTTP %d: %s", e.Status, e.Message)
	if e.Field != "" {
		msg += " (field " + e.Field + ")"
	}
	return msg
}

// Errorf returns an *Error with status and a formatted message, for a HandlerFunc to fail
// with a status of its choice: return nil, servicekit.Errorf(400, "service is required").
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// errorStatus is the status to answer err with.
func errorStatus(err error) (int, string) {
	var e *Error
	if errors.As(err, &e) && e.Status >= 400 && e.Status <= 599 {
		return e.Status, e.Message
	}
	return http.StatusInternalServerError, err.Error()
}
