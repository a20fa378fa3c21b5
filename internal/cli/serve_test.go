package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/internal/hub"
)

// serveWith runs "switchboard serve args..." with env, recording the config instead of
// starting a hub; serveErr is what the hub's run returns.
func serveWith(env map[string]string, serveErr error, args ...string) (cfg hub.Config, called bool, code int, stderr string) {
	var out, errOut bytes.Buffer
	a := &app{
		stdin:  strings.NewReader(""),
		stdout: &out,
		stderr: &errOut,
		getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		serve: func(ctx context.Context, c hub.Config) error {
			if ctx == nil {
				return errors.New("no context")
			}
			cfg, called = c, true
			return serveErr
		},
	}
	code = a.run(context.Background(), append([]string{"serve"}, args...))
	return cfg, called, code, errOut.String()
}

func TestServeConfig(t *testing.T) {
	defaults := hub.Config{
		Addr:            "127.0.0.1:8080",
		DataDir:         "./data",
		ShutdownTimeout: 15 * time.Second,
		MaxBodyBytes:    4 << 20,
		RunsMemory:      256 << 20,
		LogLevel:        "info",
		LogFormat:       "text",
		MaxRuns:         256, MaxRunsPerSolution: 64,
		MaxBodyHeld: 128 << 20, MaxBodyHeldPerSolution: 32 << 20,
		BodyReadTimeout: 30 * time.Second, BodyGrace: 5 * time.Second, BodyMinRate: 8 << 10,
		LogsMaxAge: 7 * 24 * time.Hour, LogsMaxBytes: 256 << 20, LogsPerSolution: 10_000,
		ConnectorMaxPending: 10_000, ConnectorMaxPendingPerSolution: 100_000,
		MQTTMaxConnections: 1024, MQTTMaxConnectionsPerSolution: 64, MQTTStoragePerSolution: 64 << 20,
		KaaInstanceName: "switchboard", KaaTriggers: "*", KaaTypes: "*",
		GatewayMaxIssuers: 64,
	}
	with := func(f func(*hub.Config)) hub.Config {
		c := defaults
		f(&c)
		return c
	}
	full := hub.Config{
		Addr:              "0.0.0.0:9000",
		DataDir:           "/var/lib/switchboard",
		NATSListen:        "127.0.0.1:4222",
		AdminToken:        "admin-token-0123456789",
		RegistrationToken: "registration-0123456789",
		InstanceName:      "hub-1",
		AppsDomain:        "apps.example.com",
		ServiceNetworks:   "10.0.0.0/8,fd00::/8",
		ShutdownTimeout:   30 * time.Second,
		MaxBodyBytes:      1 << 20,
		RunsMemory:        512 << 20,
		LogLevel:          "debug",
		LogFormat:         "json",
		MaxRuns:           100, MaxRunsPerSolution: 10,
		MaxBodyHeld: 64 << 20, MaxBodyHeldPerSolution: 8 << 20,
		BodyReadTimeout: 5 * time.Second, BodyGrace: 2 * time.Second, BodyMinRate: 16 << 10,
		MetricsAddr: "127.0.0.1:9100", MetricsToken: "metrics-token-0123456789",
		LogsMaxAge: 24 * time.Hour, LogsMaxBytes: 1 << 30, LogsPerSolution: 500,
		ConnectorMaxPending: 500, ConnectorMaxPendingPerSolution: 5000,
		MQTTListen: "0.0.0.0:1883", MQTTMaxConnections: 5000, MQTTMaxConnectionsPerSolution: 50, MQTTStoragePerSolution: 32 << 20,
		PublicURL: "https://switchboard.example.com",
		TLSCert:   "/etc/switchboard/tls.crt", TLSKey: "/etc/switchboard/tls.key", GatewayMaxIssuers: 8,
		KaaInstanceName: "plant-kaa", KaaExecutorOff: true, KaaTriggers: "kaa-rules,kaa-alerts", KaaTypes: "email-notification",
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want hub.Config
	}{
		{name: "defaults", want: defaults},
		{
			name: "every flag",
			args: []string{
				"--addr", "0.0.0.0:9000", "--data", "/var/lib/switchboard", "--nats-listen", "127.0.0.1:4222",
				"--admin-token", "admin-token-0123456789", "--registration-token", "registration-0123456789",
				"--instance-name", "hub-1", "--apps-domain", "apps.example.com", "--shutdown-timeout", "30s",
				"--service-networks", "10.0.0.0/8,fd00::/8",
				"--max-body-bytes", "1MiB", "--runs-memory", "512MiB", "--log-level", "debug", "--log-format", "json",
				"--max-runs", "100", "--max-runs-per-solution", "10", "--max-body-held", "64MiB", "--max-body-held-per-solution", "8MiB",
				"--body-read-timeout", "5s", "--body-grace", "2s", "--body-min-rate", "16KiB", "--metrics-addr", "127.0.0.1:9100", "--metrics-token", "metrics-token-0123456789",
				"--logs-max-age", "24h", "--logs-max-bytes", "1GiB", "--logs-per-solution", "500",
				"--connector-max-pending", "500", "--connector-max-pending-per-solution", "5000",
				"--mqtt-listen", "0.0.0.0:1883", "--mqtt-max-connections", "5000", "--mqtt-max-connections-per-solution", "50", "--mqtt-storage-per-solution", "32MiB",
				"--public-url", "https://switchboard.example.com",
				"--tls-cert", "/etc/switchboard/tls.crt", "--tls-key", "/etc/switchboard/tls.key", "--gateway-max-issuers", "8",
				"--kaa-instance-name", "plant-kaa", "--kaa-executor=false", "--kaa-triggers", "kaa-rules,kaa-alerts", "--kaa-types", "email-notification",
			},
			want: full,
		},
		{
			name: "every variable",
			env: map[string]string{
				"SWITCHBOARD_ADDR": "0.0.0.0:9000", "SWITCHBOARD_DATA": "/var/lib/switchboard",
				"SWITCHBOARD_NATS_LISTEN": "127.0.0.1:4222", "SWITCHBOARD_ADMIN_TOKEN": "admin-token-0123456789",
				"SWITCHBOARD_REGISTRATION_TOKEN": "registration-0123456789", "SWITCHBOARD_INSTANCE_NAME": "hub-1",
				"SWITCHBOARD_APPS_DOMAIN": "apps.example.com", "SWITCHBOARD_SHUTDOWN_TIMEOUT": "30s",
				"SWITCHBOARD_MAX_BODY_BYTES": "1048576", "SWITCHBOARD_RUNS_MEMORY": "512MiB", "SWITCHBOARD_LOG_LEVEL": "debug", "SWITCHBOARD_LOG_FORMAT": "json",
				"SWITCHBOARD_SERVICE_NETWORKS": "10.0.0.0/8,fd00::/8",
				"SWITCHBOARD_MAX_RUNS":         "100", "SWITCHBOARD_MAX_RUNS_PER_SOLUTION": "10", "SWITCHBOARD_MAX_BODY_HELD": "64MiB",
				"SWITCHBOARD_MAX_BODY_HELD_PER_SOLUTION": "8MiB", "SWITCHBOARD_BODY_READ_TIMEOUT": "5s", "SWITCHBOARD_BODY_GRACE": "2s", "SWITCHBOARD_BODY_MIN_RATE": "16KiB",
				"SWITCHBOARD_METRICS_ADDR": "127.0.0.1:9100", "SWITCHBOARD_METRICS_TOKEN": "metrics-token-0123456789",
				"SWITCHBOARD_LOGS_MAX_AGE": "24h", "SWITCHBOARD_LOGS_MAX_BYTES": "1GiB", "SWITCHBOARD_LOGS_PER_SOLUTION": "500",
				"SWITCHBOARD_CONNECTOR_MAX_PENDING": "500", "SWITCHBOARD_CONNECTOR_MAX_PENDING_PER_SOLUTION": "5000",
				"SWITCHBOARD_MQTT_LISTEN": "0.0.0.0:1883", "SWITCHBOARD_MQTT_MAX_CONNECTIONS": "5000",
				"SWITCHBOARD_MQTT_MAX_CONNECTIONS_PER_SOLUTION": "50", "SWITCHBOARD_MQTT_STORAGE_PER_SOLUTION": "32MiB",
				"SWITCHBOARD_PUBLIC_URL": "https://switchboard.example.com", "SWITCHBOARD_KAA_INSTANCE_NAME": "plant-kaa", "SWITCHBOARD_KAA_EXECUTOR": "false",
				"SWITCHBOARD_KAA_TRIGGERS": "kaa-rules,kaa-alerts", "SWITCHBOARD_KAA_TYPES": "email-notification",
				"SWITCHBOARD_TLS_CERT": "/etc/switchboard/tls.crt", "SWITCHBOARD_TLS_KEY": "/etc/switchboard/tls.key", "SWITCHBOARD_GATEWAY_MAX_ISSUERS": "8",
			},
			want: full,
		},
		{
			name: "outside NATS from the environment",
			env:  map[string]string{"SWITCHBOARD_NATS_URL": "nats://nats:4222"},
			want: with(func(c *hub.Config) { c.NATSURL = "nats://nats:4222" }),
		},
		{
			name: "replicas on an outside cluster",
			env:  map[string]string{"SWITCHBOARD_NATS_URL": "nats://n1:4222,nats://n2:4222", "SWITCHBOARD_REPLICAS": "2"},
			want: with(func(c *hub.Config) { c.NATSURL, c.Replicas = "nats://n1:4222,nats://n2:4222", 2 }),
		},
		{
			name: "keystore fencing off",
			env:  map[string]string{"SWITCHBOARD_NATS_URL": "nats://nats:4222", "SWITCHBOARD_KEYSTORE_FENCE": "false"},
			want: with(func(c *hub.Config) { c.NATSURL, c.KeystoreFenceOff = "nats://nats:4222", true }),
		},
		{
			name: "keystore fencing flag",
			args: []string{"--keystore-fence=false"},
			want: with(func(c *hub.Config) { c.KeystoreFenceOff = true }),
		},
		{
			name: "replicas flag",
			args: []string{"--nats-url", "nats://n1:4222", "--replicas", "3"},
			want: with(func(c *hub.Config) { c.NATSURL, c.Replicas = "nats://n1:4222", 3 }),
		},
		{
			name: "a flag wins over its variable",
			env:  map[string]string{"SWITCHBOARD_ADDR": "0.0.0.0:1", "SWITCHBOARD_SHUTDOWN_TIMEOUT": "abc", "SWITCHBOARD_LOG_LEVEL": "warn"},
			args: []string{"--addr=127.0.0.1:2", "--shutdown-timeout", "1m"},
			want: with(func(c *hub.Config) { c.Addr, c.ShutdownTimeout, c.LogLevel = "127.0.0.1:2", time.Minute, "warn" }),
		},
		{
			name: "empty variables are ignored",
			env:  map[string]string{"SWITCHBOARD_ADDR": "", "SWITCHBOARD_MAX_BODY_BYTES": ""},
			want: defaults,
		},
		{
			name: "decimal size units",
			args: []string{"--max-body-bytes", "10MB"},
			want: with(func(c *hub.Config) { c.MaxBodyBytes = 10_000_000 }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, called, code, stderr := serveWith(tt.env, nil, tt.args...)
			if code != ExitOK || !called {
				t.Fatalf("exit code %d, serve called %v, stderr:\n%s", code, called, stderr)
			}
			if got != tt.want {
				t.Errorf("config\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestServeErrors(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		serveErr error
		code     int
		wantErr  string
	}{
		{
			name: "bad duration variable", env: map[string]string{"SWITCHBOARD_SHUTDOWN_TIMEOUT": "abc"},
			code: ExitUsage, wantErr: `switchboard: SWITCHBOARD_SHUTDOWN_TIMEOUT="abc": not a valid value for --shutdown-timeout: time: invalid duration "abc"`,
		},
		{
			name: "bad size variable", env: map[string]string{"SWITCHBOARD_MAX_BODY_BYTES": "4 MegaBytes"},
			code: ExitUsage, wantErr: `switchboard: SWITCHBOARD_MAX_BODY_BYTES="4 MegaBytes": not a valid value for --max-body-bytes`,
		},
		{
			name: "bad duration flag", args: []string{"--shutdown-timeout", "soon"},
			code: ExitUsage, wantErr: `invalid argument "soon" for "--shutdown-timeout"`,
		},
		{
			name: "bad log level variable", env: map[string]string{"SWITCHBOARD_LOG_LEVEL": "loud"},
			code: ExitUsage, wantErr: `switchboard: --log-level "loud": want debug, info, warn or error`,
		},
		{
			name: "nats-listen with nats-url", args: []string{"--nats-url", "nats://x:4222", "--nats-listen", "127.0.0.1:4222"},
			code: ExitUsage, wantErr: "--nats-listen applies to the embedded server only",
		},
		{
			name: "replicas beyond JetStream's bound", args: []string{"--nats-url", "nats://x:4222", "--replicas", "6"},
			code: ExitUsage, wantErr: "--replicas 6: want 1 to 5, or 0 for as many as the NATS cluster places up to 3",
		},
		{
			name: "negative replicas", env: map[string]string{"SWITCHBOARD_REPLICAS": "-1"},
			code: ExitUsage, wantErr: "--replicas -1: want 1 to 5",
		},
		{
			name: "replicas on the embedded server", args: []string{"--replicas", "3"},
			code: ExitUsage, wantErr: "--replicas 3 needs --nats-url: the embedded NATS server is a single node",
		},
		{
			name: "replicas not a number", env: map[string]string{"SWITCHBOARD_REPLICAS": "three"},
			code: ExitUsage, wantErr: `SWITCHBOARD_REPLICAS="three"`,
		},
		{
			name: "mqtt-listen with nats-url", args: []string{"--nats-url", "nats://x:4222", "--mqtt-listen", "127.0.0.1:1883"},
			code: ExitUsage, wantErr: "--mqtt-listen applies to the embedded server only; with --nats-url, configure MQTT on your NATS server",
		},
		{
			name: "mqtt-listen not an address", env: map[string]string{"SWITCHBOARD_MQTT_LISTEN": "1883"},
			code: ExitUsage, wantErr: `--mqtt-listen "1883"`,
		},
		{
			name: "more mqtt connections per solution than in all", args: []string{"--mqtt-max-connections", "10", "--mqtt-max-connections-per-solution", "11"},
			code: ExitUsage, wantErr: "--mqtt-max-connections 10 >= --mqtt-max-connections-per-solution 11 >= 1 must hold",
		},
		{
			name: "tiny mqtt storage", args: []string{"--mqtt-storage-per-solution", "1MiB"},
			code: ExitUsage, wantErr: "--mqtt-storage-per-solution 1048576: must be at least 4MiB",
		},
		{
			name: "tiny runs memory", args: []string{"--runs-memory", "64KiB"},
			code: ExitUsage, wantErr: "--runs-memory 65536: must be at least 1MiB",
		},
		{
			name: "connector max pending out of range", args: []string{"--connector-max-pending", "-5"},
			code: ExitUsage, wantErr: "--connector-max-pending -5: want 1 to 1000000 events",
		},
		{
			name: "short admin token", args: []string{"--admin-token", "short"},
			code: ExitUsage, wantErr: "--admin-token: must be at least 16 characters",
		},
		{
			name: "the hub fails", serveErr: errors.New("listen on --addr 127.0.0.1:8080: address already in use"),
			code: ExitFailure, wantErr: "switchboard: listen on --addr 127.0.0.1:8080: address already in use\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, called, code, stderr := serveWith(tt.env, tt.serveErr, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			if called != (tt.code == ExitFailure) {
				t.Errorf("serve called = %v", called)
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, stderr)
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false},
		{"4194304", 4 << 20, false},
		{"4MiB", 4 << 20, false},
		{"4 mib", 4 << 20, false},
		{"512KiB", 512 << 10, false},
		{"1GiB", 1 << 30, false},
		{"10MB", 10_000_000, false},
		{"3kB", 3000, false},
		{"7B", 7, false},
		{"", 0, true},
		{"MiB", 0, true},
		{"1.5MiB", 0, true},
		{"-1", 0, true},
		{"4 MegaBytes", 0, true},
		{"99999999999TiB", 0, true},
	}
	for _, tt := range tests {
		got, err := parseByteSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
	for n, want := range map[int64]string{16 << 20: "16MiB", 1 << 30: "1GiB", 3 << 10: "3KiB", 1536: "1536B", 1000: "1000B", 0: "0B", 2 << 40: "2TiB"} {
		if got := formatByteSize(n); got != want {
			t.Errorf("formatByteSize(%d) = %q, want %q", n, got, want)
		}
	}
}
