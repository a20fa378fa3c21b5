package hub

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/internal/script"
)

// Config is everything `switchboard serve` takes. Zero values are filled by Defaults.
type Config struct {
	// Addr is the HTTP listen address.
	Addr string
	// DataDir holds the embedded NATS files and the generated tokens.
	DataDir string
	// NATSURL points at an outside NATS with JetStream; empty runs the embedded server.
	NATSURL string
	// NATSListen is the embedded server's client address for outside programs; empty = in-process only.
	NATSListen string
	// AdminToken may do everything; empty = read <data>/admin-token, or generate it there.
	AdminToken string
	// RegistrationToken lets dynamic services register; empty = read or generate <data>/registration-token.
	RegistrationToken string
	// InstanceName is this instance's name on the bus.
	InstanceName string
	// AppsDomain, when set, serves solution endpoints at {solution}.{AppsDomain} by Host header.
	AppsDomain string
	// ShutdownTimeout bounds how long in-flight requests may take to finish on SIGINT/SIGTERM.
	ShutdownTimeout time.Duration
	// MaxBodyBytes bounds management API and endpoint request bodies.
	MaxBodyBytes int64
	// RunsMemory bounds the memory all script runs together may hold (see script.Options).
	RunsMemory int64
	// LogLevel is debug, info, warn or error; LogFormat is text or json.
	LogLevel  string
	LogFormat string
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
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 4 << 20
	}
	if c.RunsMemory == 0 {
		c.RunsMemory = script.DefaultRunsMemory
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
	if c.NATSURL != "" && !strings.Contains(c.NATSURL, "://") {
		return fmt.Errorf("--nats-url %q: want a URL such as nats://127.0.0.1:4222", c.NATSURL)
	}
	for flag, tok := range map[string]string{"--admin-token": c.AdminToken, "--registration-token": c.RegistrationToken} {
		if tok != "" && len(tok) < 16 {
			return fmt.Errorf("%s: must be at least 16 characters", flag)
		}
	}
	if c.AppsDomain != "" && !domainPattern.MatchString(c.AppsDomain) {
		return fmt.Errorf("--apps-domain %q: want a bare domain such as apps.example.com", c.AppsDomain)
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
	if c.RunsMemory < 1<<20 {
		return fmt.Errorf("--runs-memory %d: must be at least 1MiB", c.RunsMemory)
	}
	if c.ShutdownTimeout < 0 {
		return fmt.Errorf("--shutdown-timeout %s: must not be negative", c.ShutdownTimeout)
	}
	return nil
}

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
