package hub

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"bad addr", func(c *Config) { c.Addr = "8080" }, "--addr"},
		{"listen with url", func(c *Config) { c.NATSListen = "127.0.0.1:4223"; c.NATSURL = "nats://x:4222" }, "--nats-listen"},
		{"bad listen", func(c *Config) { c.NATSListen = "nope" }, "--nats-listen"},
		{"url without scheme", func(c *Config) { c.NATSURL = "127.0.0.1:4222" }, "--nats-url"},
		{"mqtt listen with url", func(c *Config) { c.MQTTListen = "127.0.0.1:1883"; c.NATSURL = "nats://x:4222" }, "configure MQTT on your NATS server"},
		{"bad mqtt listen", func(c *Config) { c.MQTTListen = "1883" }, "--mqtt-listen"},
		{"mqtt listen ok", func(c *Config) { c.MQTTListen = ":1883" }, ""},
		{"leaf advertise without leaf listen", func(c *Config) { c.LeafAdvertise = "edge.example.com:7422" }, "--leaf-advertise needs --leaf-listen"},
		{"leaf advertise without port", func(c *Config) { c.LeafListen, c.LeafAdvertise = ":7422", "edge.example.com" }, "--leaf-advertise"},
		{"leaf advertise on port 0", func(c *Config) { c.LeafListen, c.LeafAdvertise = ":7422", "edge.example.com:0" }, "--leaf-advertise"},
		{"leaf advertise ok", func(c *Config) { c.LeafListen, c.LeafAdvertise = ":7422", "edge.example.com:17422" }, ""},
		{"mqtt listen with nats listen", func(c *Config) { c.MQTTListen, c.NATSListen = "127.0.0.1:1883", "127.0.0.1:4222" }, ""},
		{"mqtt listen on nats listen", func(c *Config) { c.MQTTListen, c.NATSListen = "127.0.0.1:4222", "127.0.0.1:4222" }, "--nats-listen listens there"},
		{"mqtt listen on addr", func(c *Config) { c.MQTTListen = c.Addr }, "--addr listens there"},
		{"mqtt listen and addr on free ports", func(c *Config) { c.MQTTListen, c.Addr = "127.0.0.1:0", "127.0.0.1:0" }, ""},
		{"negative mqtt connections", func(c *Config) { c.MQTTMaxConnections = -1 }, "--mqtt-max-connections"},
		{"negative mqtt connections per solution", func(c *Config) { c.MQTTMaxConnectionsPerSolution = -1 }, "--mqtt-max-connections-per-solution"},
		{"more mqtt connections per solution than in all", func(c *Config) { c.MQTTMaxConnections, c.MQTTMaxConnectionsPerSolution = 10, 11 }, "--mqtt-max-connections"},
		{"tiny mqtt storage", func(c *Config) { c.MQTTStoragePerSolution = 1 << 20 }, "--mqtt-storage-per-solution"},
		{"short admin token", func(c *Config) { c.AdminToken = "short" }, "--admin-token"},
		{"short registration token", func(c *Config) { c.RegistrationToken = "short" }, "--registration-token"},
		{"apps domain with dot", func(c *Config) { c.AppsDomain = ".apps.local" }, "--apps-domain"},
		{"apps domain with slash", func(c *Config) { c.AppsDomain = "apps.local/x" }, "--apps-domain"},
		{"apps domain with space", func(c *Config) { c.AppsDomain = "bad domain" }, "--apps-domain"},
		{"public url without scheme", func(c *Config) { c.PublicURL = "switchboard.example.com" }, "--public-url"},
		{"public url of another scheme", func(c *Config) { c.PublicURL = "ftp://switchboard.example.com" }, "--public-url"},
		{"public url with a query", func(c *Config) { c.PublicURL = "https://switchboard.example.com/?x=1" }, "--public-url"},
		{"kaa instance name with a dot", func(c *Config) { c.KaaInstanceName = "a.b" }, "--kaa-instance-name"},
		{"kaa types with a wildcard", func(c *Config) { c.KaaTypes = "a,>" }, "--kaa-types"},
		{"apps domain ok", func(c *Config) { c.AppsDomain = "apps.example.com" }, ""},
		{"service networks not a CIDR", func(c *Config) { c.ServiceNetworks = "10.0.0.0/8,intranet" }, "--service-networks"},
		{"service networks too long a prefix", func(c *Config) { c.ServiceNetworks = "10.0.0.0/40" }, "--service-networks"},
		{"service networks ok", func(c *Config) { c.ServiceNetworks = "10.0.0.0/8, fd00::/8,192.168.1.7" }, ""},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, "--log-level"},
		{"log format", func(c *Config) { c.LogFormat = "xml" }, "--log-format"},
		{"negative shutdown", func(c *Config) { c.ShutdownTimeout = -time.Second }, "--shutdown-timeout"},
		{"negative runs", func(c *Config) { c.MaxRuns = -1 }, "--max-runs"},
		{"negative runs per solution", func(c *Config) { c.MaxRunsPerSolution = -1 }, "--max-runs-per-solution"},
		{"body held per solution below the largest body", func(c *Config) { c.MaxBodyBytes = 64 << 20 }, "--max-body-held-per-solution"},
		{"body held below a solution's", func(c *Config) { c.MaxBodyHeld = 16 << 20 }, "--max-body-held"},
		{"negative body read timeout", func(c *Config) { c.BodyReadTimeout = -time.Second }, "--body-read-timeout"},
		{"body held per solution below twice the largest body", func(c *Config) { c.MaxBodyBytes = 20 << 20 }, "2 x --max-body-bytes"},
		{"negative body grace", func(c *Config) { c.BodyGrace = -time.Second }, "--body-grace"},
		{"negative body min rate", func(c *Config) { c.BodyMinRate = -1 }, "--body-min-rate"},
		{"bad metrics addr", func(c *Config) { c.MetricsAddr = "9100" }, "--metrics-addr"},
		{"short metrics token", func(c *Config) { c.MetricsToken = "short" }, "--metrics-token"},
		{"metrics addr and token", func(c *Config) { c.MetricsAddr, c.MetricsToken = "127.0.0.1:9100", "metrics-token-0123456789" }, ""},
		{"tiny runs memory", func(c *Config) { c.RunsMemory = 1 << 10 }, "--runs-memory"},
		{"negative runs memory", func(c *Config) { c.RunsMemory = -1 }, "--runs-memory"},
		{"logs kept less than a minute", func(c *Config) { c.LogsMaxAge = time.Second }, "--logs-max-age"},
		{"logs smaller than 1MiB", func(c *Config) { c.LogsMaxBytes = 1 << 10 }, "--logs-max-bytes"},
		{"negative logs per solution", func(c *Config) { c.LogsPerSolution = -1 }, "--logs-per-solution"},
		{"metrics sampled too often", func(c *Config) { c.MetricsInterval = time.Millisecond }, "metrics interval"},
		{"metrics sampled too rarely", func(c *Config) { c.MetricsInterval = time.Hour }, "metrics interval"},
		{"negative connector max pending", func(c *Config) { c.ConnectorMaxPending = -1 }, "--connector-max-pending"},
		{"connector max pending over a million", func(c *Config) { c.ConnectorMaxPending = 1_000_001 }, "--connector-max-pending"},
		{"connector max pending per solution below a connector's", func(c *Config) { c.ConnectorMaxPending, c.ConnectorMaxPendingPerSolution = 500, 499 },
			"--connector-max-pending-per-solution"},
		{"connector max pending per solution too large", func(c *Config) { c.ConnectorMaxPendingPerSolution = 1 << 40 }, "--connector-max-pending-per-solution"},
		{"connector bounds ok", func(c *Config) { c.ConnectorMaxPending, c.ConnectorMaxPendingPerSolution = 1, 1 }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{}.Defaults()
			tc.change(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tc.wantErr)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := Config{}.Defaults()
	if c.Addr != "127.0.0.1:8080" || c.DataDir != "./data" || c.InstanceName == "" || c.ShutdownTimeout != 15*time.Second || c.RunsMemory != 256<<20 {
		t.Fatalf("defaults = %+v", c)
	}
	if c.MaxRuns != 256 || c.MaxRunsPerSolution != 64 || c.MaxBodyHeld != 128<<20 || c.MaxBodyHeldPerSolution != 32<<20 || c.BodyReadTimeout != 30*time.Second ||
		c.BodyGrace != 5*time.Second || c.BodyMinRate != 8<<10 || c.LogsMaxAge != 7*24*time.Hour || c.LogsMaxBytes != 256<<20 || c.LogsPerSolution != 10_000 {
		t.Fatalf("admission defaults = %+v", c)
	}
	if got := (Config{Addr: ":9"}).Defaults().Addr; got != ":9" {
		t.Fatalf("Defaults overwrote Addr: %q", got)
	}
	if got := sanitizeName("host.example.com"); got != "host-example-com" {
		t.Fatalf("sanitizeName = %q", got)
	}
}

func TestLoadOrCreateToken(t *testing.T) {
	dir := t.TempDir()
	tok, path, err := loadOrCreateToken("", dir, "admin-token", "sba_")
	if err != nil || !strings.HasPrefix(tok, "sba_") || len(tok) < 40 {
		t.Fatalf("generate: %q, %v", tok, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v, %v", fi, err)
	}
	again, _, err := loadOrCreateToken("", dir, "admin-token", "sba_")
	if err != nil || again != tok {
		t.Fatalf("second start read %q, %v; want the same token", again, err)
	}
	given, p, err := loadOrCreateToken("given-token-0123456789", dir, "admin-token", "sba_")
	if err != nil || given != "given-token-0123456789" || p != "" {
		t.Fatalf("given token: %q %q %v", given, p, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad"), []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadOrCreateToken("", dir, "bad", "sba_"); err == nil || !strings.Contains(err.Error(), "fewer than 16") {
		t.Fatalf("short token file: %v", err)
	}
}
