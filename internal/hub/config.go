package hub

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/internal/admission"
	"github.com/switchboardhq/switchboard/internal/automation"
	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/connector"
	"github.com/switchboardhq/switchboard/internal/gateway"
	"github.com/switchboardhq/switchboard/internal/history"
	"github.com/switchboardhq/switchboard/internal/kaa"
	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/servicenet"
	"github.com/switchboardhq/switchboard/internal/solutionlog"
	"github.com/switchboardhq/switchboard/internal/tracing"
)

// Config is everything `switchboard serve` takes. Zero values are filled by Defaults.
type Config struct {
	// Addr is the HTTP listen address.
	Addr string
	// DataDir holds the embedded NATS files and the generated tokens.
	DataDir string
	// NATSURL points at an outside NATS with JetStream; empty runs the embedded server.
	NATSURL string
	// Replicas is how many copies the NATS cluster keeps of each stream and bucket Switchboard
	// creates (1 to 5); 0 = as many as the cluster places, up to 3 (1 on the embedded server).
	// Streams and buckets that exist keep theirs.
	Replicas int
	// NATSListen is the embedded server's client address for outside programs; empty = in-process only.
	NATSListen string
	// MQTTListen is the embedded server's MQTT listener (host:port), where the solutions'
	// devices publish to Switchboard itself; empty = none.
	MQTTListen string
	// LeafListen is the embedded server's leaf node listener (host:port), where the
	// solutions' agents (switchboard agent) connect; empty opens none.
	LeafListen string
	// LeafAdvertise is the host:port agents are told to connect to, where it is not the
	// --leaf-listen port on the host of --public-url (a port forward, a proxy, a NAT).
	LeafAdvertise string
	// MQTTMaxConnections and MQTTMaxConnectionsPerSolution bound the devices connected to it
	// at once, in all and per solution; MQTTStoragePerSolution bounds what the server keeps
	// for one solution's devices (sessions, retained and unacknowledged messages).
	MQTTMaxConnections, MQTTMaxConnectionsPerSolution int
	MQTTStoragePerSolution                            int64
	// AdminToken may do everything; empty = read <data>/admin-token, or generate it there.
	AdminToken string
	// RegistrationToken lets dynamic services register; empty = read or generate <data>/registration-token.
	RegistrationToken string
	// InstanceName is this instance's name on the bus.
	InstanceName string
	// KaaInstanceName is the Kaa service instance name of Switchboard's automation trigger
	// and executor (23/AIP): the originator of the subjects it publishes on, and the queue
	// group its executors share. Unlike InstanceName, every instance of one deployment has
	// the same. Default "switchboard".
	KaaInstanceName string
	// KaaExecutorOff stops this instance from executing Kaa automations; KaaTriggers and
	// KaaTypes, comma-separated, are the trigger instance names and automation types it
	// accepts (empty or "*": any).
	KaaExecutorOff bool
	// KeystoreFenceOff keeps every Keystore bucket open to other writers (--keystore-fence=false):
	// no instance fences a busy bucket it alone writes (see internal/core/keystore/fence.go).
	KeystoreFenceOff      bool
	KaaTriggers, KaaTypes string
	// AppsDomain, when set, serves solution endpoints at {solution}.{AppsDomain} by Host header.
	AppsDomain string
	// PublicURL is the base URL clients reach this server at: the issuer of the event
	// gateway's access tokens and the origin of its token endpoint; default http://<Addr>.
	PublicURL string
	// TLSCert and TLSKey, PEM files, make Addr serve HTTPS; the listener asks clients for
	// certificates (without requiring or verifying them: each application has its own CA,
	// checked by the event gateway). Both or neither.
	TLSCert, TLSKey string
	// GatewayMaxIssuers bounds the outside issuers' verifiers the event gateway keeps
	// (each is a discovery and a set of keys); default gateway.DefaultMaxIssuers.
	GatewayMaxIssuers int
	// ShutdownTimeout bounds how long in-flight requests may take to finish on SIGINT/SIGTERM.
	ShutdownTimeout time.Duration
	// MaxBodyBytes bounds management API and endpoint request bodies.
	MaxBodyBytes int64
	// ServiceNetworks, comma-separated CIDRs, are the only networks dynamic services may live
	// in; empty allows any address but the hub's own listeners and link-local/metadata ones.
	ServiceNetworks string
	// ConnectorNetworks, comma-separated CIDRs, are the only networks connectors may connect
	// to (their brokers); empty allows any address but those no service may have either.
	ConnectorNetworks string
	// ConnectorMaxPending is how many events of its topic may wait for handlers before a
	// connector (without a max_pending of its own) stops taking messages from its source;
	// ConnectorMaxPendingPerSolution bounds the same over all of a solution's topics.
	ConnectorMaxPending, ConnectorMaxPendingPerSolution int
	// MaxRuns and MaxRunsPerSolution bound requests running scripts at once (endpoints,
	// triggered events), in all and per solution; MaxBodyHeld and MaxBodyHeldPerSolution bound
	// the request body bytes they hold. Beyond a solution's bound: 429; beyond the server's: 503.
	MaxRuns, MaxRunsPerSolution         int
	MaxBodyHeld, MaxBodyHeldPerSolution int64
	// MetricsAddr, when set, serves /metrics on its own listener only. MetricsToken is a bearer
	// token that may read /metrics besides the admin token (required on MetricsAddr when set).
	MetricsAddr, MetricsToken string
	// OTLPEndpoint is the OTLP/HTTP collector traces are exported to; empty: no tracing.
	OTLPEndpoint string
	// OTLPSampleRatio is the share of new traces recorded (0..1); nil is 1.
	OTLPSampleRatio *float64
	// BodyReadTimeout bounds how long a request body (endpoint, trigger, call) may take to
	// arrive; within it, the body must start within BodyGrace and then arrive at BodyMinRate
	// bytes a second or more on average (0 = no rate bound).
	BodyReadTimeout, BodyGrace time.Duration
	BodyMinRate                int64
	// RunsMemory bounds the memory all script runs together may hold (see script.Options).
	RunsMemory int64
	// LogsMaxAge and LogsMaxBytes bound the solutions' logs (one stream for the hub);
	// LogsPerSolution is how many entries one solution keeps at most, so a noisy solution
	// cannot push out another's.
	LogsMaxAge      time.Duration
	LogsMaxBytes    int64
	LogsPerSolution int64
	// LogLevel is debug, info, warn or error; LogFormat is text or json.
	LogLevel  string
	LogFormat string
	// EventMaxDeliver is how often a durable event's handler runs before it is a dead letter,
	// EventRetryWait the wait between runs; zero = the defaults of events.DispatcherOptions.
	// Not serve flags: tests shorten them.
	EventMaxDeliver int
	EventRetryWait  time.Duration
	// MetricsInterval is how often this instance samples its figures into the solutions'
	// metrics history (history.DefaultInterval when 0); every instance sharing a NATS should
	// have the same. Not a serve flag: tests shorten it.
	MetricsInterval time.Duration
}

// Defaults returns c with every empty field set to its default.
func (c Config) Defaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.InstanceName == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "switchboard"
		}
		c.InstanceName = sanitizeName(host)
	}
	if c.KaaInstanceName == "" {
		c.KaaInstanceName = "switchboard"
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	if c.MQTTMaxConnections == 0 {
		c.MQTTMaxConnections = DefaultMQTTMaxConnections
	}
	if c.MQTTMaxConnectionsPerSolution == 0 {
		c.MQTTMaxConnectionsPerSolution = DefaultMQTTMaxConnectionsPerSolution
	}
	if c.MQTTStoragePerSolution == 0 {
		c.MQTTStoragePerSolution = DefaultMQTTStoragePerSolution
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 4 << 20
	}
	if c.GatewayMaxIssuers == 0 {
		c.GatewayMaxIssuers = gateway.DefaultMaxIssuers
	}
	lim := admission.Limits{Runs: c.MaxRuns, RunsPerSolution: c.MaxRunsPerSolution, Bytes: c.MaxBodyHeld, BytesPerSolution: c.MaxBodyHeldPerSolution}.Defaults()
	c.MaxRuns, c.MaxRunsPerSolution, c.MaxBodyHeld, c.MaxBodyHeldPerSolution = lim.Runs, lim.RunsPerSolution, lim.Bytes, lim.BytesPerSolution
	if c.BodyReadTimeout == 0 {
		c.BodyReadTimeout = 30 * time.Second
	}
	if c.BodyGrace == 0 {
		c.BodyGrace = 5 * time.Second
	}
	if c.BodyMinRate == 0 {
		c.BodyMinRate = 8 << 10
	}
	if c.ConnectorMaxPending == 0 {
		c.ConnectorMaxPending = connector.DefaultMaxPending
	}
	if c.ConnectorMaxPendingPerSolution == 0 {
		c.ConnectorMaxPendingPerSolution = connector.DefaultMaxPendingPerSolution
	}
	if c.RunsMemory == 0 {
		c.RunsMemory = script.DefaultRunsMemory
	}
	if c.LogsMaxAge == 0 {
		c.LogsMaxAge = solutionlog.DefaultMaxAge
	}
	if c.LogsMaxBytes == 0 {
		c.LogsMaxBytes = solutionlog.DefaultMaxBytes
	}
	if c.LogsPerSolution == 0 {
		c.LogsPerSolution = solutionlog.DefaultPerSolution
	}
	if c.MetricsInterval == 0 {
		c.MetricsInterval = history.DefaultInterval
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.LogFormat == "" {
		c.LogFormat = "text"
	}
	return c
}

// Validate reports the first setting that cannot work, naming the flag.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("--addr %q: %w", c.Addr, err)
	}
	if c.NATSListen != "" {
		if c.NATSURL != "" {
			return errors.New("--nats-listen applies to the embedded server only; it cannot be used with --nats-url")
		}
		if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
			return fmt.Errorf("--nats-listen %q: %w", c.NATSListen, err)
		}
	}
	if c.MQTTListen != "" {
		if c.NATSURL != "" {
			return errors.New("--mqtt-listen applies to the embedded server only; with --nats-url, configure MQTT on your NATS server (its mqtt block) and read it with an mqtt connector")
		}
		_, port, err := net.SplitHostPort(c.MQTTListen)
		if err != nil {
			return fmt.Errorf("--mqtt-listen %q: %w", c.MQTTListen, err)
		}
		for flag, addr := range map[string]string{"--addr": c.Addr, "--nats-listen": c.NATSListen, "--metrics-addr": c.MetricsAddr} {
			if addr == c.MQTTListen && port != "0" { // port 0: any free port, for each
				return fmt.Errorf("--mqtt-listen %q: %s listens there", c.MQTTListen, flag)
			}
		}
	}
	if c.LeafListen != "" {
		if c.NATSURL != "" {
			return errors.New("--leaf-listen applies to the embedded server only; with --nats-url, agents are not served yet")
		}
		if _, _, err := net.SplitHostPort(c.LeafListen); err != nil {
			return fmt.Errorf("--leaf-listen %q: %w", c.LeafListen, err)
		}
	}
	if c.LeafAdvertise != "" {
		if c.LeafListen == "" {
			return errors.New("--leaf-advertise needs --leaf-listen: it says where agents reach that listener")
		}
		if host, port, err := net.SplitHostPort(c.LeafAdvertise); err != nil || host == "" || port == "" || port == "0" {
			return fmt.Errorf("--leaf-advertise %q: want host:port, such as edge.example.com:7422", c.LeafAdvertise)
		}
	}
	if c.MQTTMaxConnections < 1 || c.MQTTMaxConnectionsPerSolution < 1 || c.MQTTMaxConnectionsPerSolution > c.MQTTMaxConnections {
		return fmt.Errorf("--mqtt-max-connections %d >= --mqtt-max-connections-per-solution %d >= 1 must hold",
			c.MQTTMaxConnections, c.MQTTMaxConnectionsPerSolution)
	}
	if c.MQTTStoragePerSolution < minMQTTStorage {
		return fmt.Errorf("--mqtt-storage-per-solution %d: must be at least 4MiB", c.MQTTStoragePerSolution)
	}
	if c.Replicas < 0 || c.Replicas > bus.MaxReplicas {
		return fmt.Errorf("--replicas %d: want 1 to %d, or 0 for as many as the NATS cluster places up to %d", c.Replicas, bus.MaxReplicas, bus.DefaultMaxReplicas)
	}
	if c.Replicas > 1 && c.NATSURL == "" {
		return fmt.Errorf("--replicas %d needs --nats-url: the embedded NATS server is a single node and keeps 1 copy", c.Replicas)
	}
	if c.NATSURL != "" && !strings.Contains(c.NATSURL, "://") {
		return fmt.Errorf("--nats-url %q: want a URL such as nats://127.0.0.1:4222", bus.Redacted(c.NATSURL))
	}
	for flag, tok := range map[string]string{"--admin-token": c.AdminToken, "--registration-token": c.RegistrationToken, "--metrics-token": c.MetricsToken} {
		if tok != "" && len(tok) < 16 {
			return fmt.Errorf("%s: must be at least 16 characters", flag)
		}
	}
	if c.OTLPEndpoint != "" {
		if _, err := tracing.ParseEndpoint(c.OTLPEndpoint); err != nil {
			return fmt.Errorf("--otlp-endpoint %q: %w", c.OTLPEndpoint, err)
		}
	}
	if r := c.OTLPSampleRatio; r != nil && !(*r >= 0 && *r <= 1) {
		return fmt.Errorf("--otlp-sample-ratio %v: must be from 0 to 1", *r)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("--metrics-addr %q: %w", c.MetricsAddr, err)
		}
	}
	if c.AppsDomain != "" && !domainPattern.MatchString(c.AppsDomain) {
		return fmt.Errorf("--apps-domain %q: want a bare domain such as apps.example.com", c.AppsDomain)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key: give both (HTTPS) or neither (HTTP)")
	}
	if c.GatewayMaxIssuers < 0 {
		return fmt.Errorf("--gateway-max-issuers %d: want a positive number", c.GatewayMaxIssuers)
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("--public-url %q: want an http(s) URL such as https://switchboard.example.com", c.PublicURL)
		}
	}
	if _, err := servicenet.ParseNetworks(c.ServiceNetworks); err != nil {
		return fmt.Errorf("--service-networks: %w", err)
	}
	if _, err := servicenet.ParseNetworks(c.ConnectorNetworks); err != nil {
		return fmt.Errorf("--connector-networks: %w", err)
	}
	if _, err := kaa.InvocationSubject(c.KaaInstanceName, "x"); err != nil {
		return fmt.Errorf("--kaa-instance-name: %w", err)
	}
	if _, err := automation.Subjects(splitList(c.KaaTriggers), splitList(c.KaaTypes)); err != nil {
		return fmt.Errorf("--kaa-triggers, --kaa-types: %w", err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	}
	for flag, n := range map[string]int64{"--max-runs": int64(c.MaxRuns), "--max-runs-per-solution": int64(c.MaxRunsPerSolution),
		"--max-body-held": c.MaxBodyHeld, "--max-body-held-per-solution": c.MaxBodyHeldPerSolution, "--max-body-bytes": c.MaxBodyBytes} {
		if n < 0 {
			return fmt.Errorf("%s %d: must not be negative", flag, n)
		}
	}
	// A body is held in a buffer that doubles as it arrives: while the last copy is made, both
	// buffers count, nearly twice the body.
	if c.MaxBodyHeldPerSolution < 2*c.MaxBodyBytes || c.MaxBodyHeld < c.MaxBodyHeldPerSolution {
		return fmt.Errorf("--max-body-held %d >= --max-body-held-per-solution %d >= 2 x --max-body-bytes %d must hold, else a body of the largest size could never be admitted",
			c.MaxBodyHeld, c.MaxBodyHeldPerSolution, c.MaxBodyBytes)
	}
	if c.ConnectorMaxPending < 1 || c.ConnectorMaxPending > connector.MaxMaxPending {
		return fmt.Errorf("--connector-max-pending %d: want 1 to %d events", c.ConnectorMaxPending, connector.MaxMaxPending)
	}
	if c.ConnectorMaxPendingPerSolution < c.ConnectorMaxPending || c.ConnectorMaxPendingPerSolution > maxPendingPerSolution {
		return fmt.Errorf("--connector-max-pending-per-solution %d: want --connector-max-pending (%d) to %d events", c.ConnectorMaxPendingPerSolution, c.ConnectorMaxPending, maxPendingPerSolution)
	}
	if c.BodyReadTimeout < 0 || c.BodyGrace < 0 {
		return fmt.Errorf("--body-read-timeout %s, --body-grace %s: must not be negative", c.BodyReadTimeout, c.BodyGrace)
	}
	if c.BodyMinRate < 0 {
		return fmt.Errorf("--body-min-rate %d: must not be negative", c.BodyMinRate)
	}
	if c.RunsMemory < 1<<20 {
		return fmt.Errorf("--runs-memory %d: must be at least 1MiB", c.RunsMemory)
	}
	if c.LogsMaxAge < time.Minute {
		return fmt.Errorf("--logs-max-age %s: must be at least 1m", c.LogsMaxAge)
	}
	if c.LogsMaxBytes < 1<<20 {
		return fmt.Errorf("--logs-max-bytes %d: must be at least 1MiB", c.LogsMaxBytes)
	}
	if c.LogsPerSolution < 1 {
		return fmt.Errorf("--logs-per-solution %d: must be at least 1", c.LogsPerSolution)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("--shutdown-timeout %s: must not be negative", c.ShutdownTimeout)
	}
	if c.MetricsInterval < 100*time.Millisecond || c.MetricsInterval > time.Minute {
		return fmt.Errorf("metrics interval %s: must be 100ms to 1m", c.MetricsInterval)
	}
	return nil
}

// maxPendingPerSolution is the largest --connector-max-pending-per-solution.
const maxPendingPerSolution = 100_000_000

// Defaults of the MQTT listener's bounds.
const (
	DefaultMQTTMaxConnections            = 1024
	DefaultMQTTMaxConnectionsPerSolution = 64
	DefaultMQTTStoragePerSolution        = 64 << 20
	// minMQTTStorage leaves room for a session and a message of the largest size.
	minMQTTStorage = 4 << 20
)

// domainPattern is a DNS name: dot-separated labels of letters, digits and inner hyphens.
var domainPattern = regexp.MustCompile(`^(?i)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$`)

// sanitizeName keeps a host name usable as a NATS server and connection name.
func sanitizeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// splitList is a comma-separated list's items, trimmed, without empty ones.
func splitList(s string) []string {
	var out []string
	for _, it := range strings.Split(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}
