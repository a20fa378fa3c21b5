package cli

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/switchboardhq/switchboard/internal/admission"
	"github.com/switchboardhq/switchboard/internal/connector"
	"github.com/switchboardhq/switchboard/internal/gateway"
	"github.com/switchboardhq/switchboard/internal/hub"
	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/solutionlog"
)

// serveOptions holds the serve flags' values.
type serveOptions struct {
	addr                                string
	natsURL                             string
	natsListen                          string
	replicas                            int
	mqttListen                          string
	leafListen                          string
	leafAdvertise                       string
	mqttMaxConns, mqttMaxConnsPerSol    int
	mqttStoragePerSolution              byteSize
	adminToken                          string
	registrationToken                   string
	instanceName                        string
	kaaInstanceName                     string
	kaaExecutor                         bool
	keystoreFence                       bool
	kaaTriggers, kaaTypes               string
	appsDomain                          string
	publicURL                           string
	tlsCert, tlsKey                     string
	gatewayMaxIssuers                   int
	serviceNetworks                     string
	connectorNetworks                   string
	connectorMaxPending                 int
	connectorMaxPendingPerSolution      int
	shutdownTimeout                     time.Duration
	maxBodyBytes                        byteSize
	runsMemory                          byteSize
	maxRuns, maxRunsPerSolution         int
	maxBodyHeld, maxBodyHeldPerSolution byteSize
	bodyReadTimeout, bodyGrace          time.Duration
	bodyMinRate                         byteSize
	metricsAddr, metricsToken           string
	otlpEndpoint                        string
	otlpSampleRatio                     float64
	logsMaxAge                          time.Duration
	logsMaxBytes                        byteSize
	logsPerSolution                     int64
	logLevel                            string
	logFormat                           string
}

// register adds the serve flags to fs, each with its SWITCHBOARD_* variable.
func (o *serveOptions) register(fs *pflag.FlagSet) {
	stringFlag(fs, &o.addr, "addr", "", "127.0.0.1:8080", "SWITCHBOARD_ADDR",
		"HTTP listen address (host:port) for the API and the solutions' endpoints; HTTPS with --tls-cert")
	stringFlag(fs, &o.natsURL, "nats-url", "", "", "SWITCHBOARD_NATS_URL",
		"URL of an outside NATS with JetStream, e.g. nats://127.0.0.1:4222; empty runs an embedded NATS server")
	intFlag(fs, &o.replicas, "replicas", 0, "SWITCHBOARD_REPLICAS",
		"copies the NATS cluster of --nats-url keeps of each stream and bucket Switchboard creates, 1 to 5; 0 is as many as the cluster places, up to 3 (1 on the embedded server)")
	stringFlag(fs, &o.natsListen, "nats-listen", "", "", "SWITCHBOARD_NATS_LISTEN",
		"client address (host:port) on which the embedded NATS server accepts outside programs; empty keeps it in-process")
	stringFlag(fs, &o.leafListen, "leaf-listen", "", "", "SWITCHBOARD_LEAF_LISTEN",
		"address (host:port) of the embedded NATS server's leaf node listener, where the solutions' agents (switchboard agent) connect; empty opens none")
	stringFlag(fs, &o.leafAdvertise, "leaf-advertise", "", "", "SWITCHBOARD_LEAF_ADVERTISE",
		"host:port agents are told to connect to for --leaf-listen, where that is not the listener's port on the host of --public-url (a port forward, a proxy)")
	stringFlag(fs, &o.mqttListen, "mqtt-listen", "", "", "SWITCHBOARD_MQTT_LISTEN",
		"address (host:port) of the embedded NATS server's MQTT 3.1.1 listener, where devices publish with their solution's id and token; empty opens none")
	intFlag(fs, &o.mqttMaxConns, "mqtt-max-connections", hub.DefaultMQTTMaxConnections, "SWITCHBOARD_MQTT_MAX_CONNECTIONS",
		"devices connected to --mqtt-listen at once, in all; more are refused")
	intFlag(fs, &o.mqttMaxConnsPerSol, "mqtt-max-connections-per-solution", hub.DefaultMQTTMaxConnectionsPerSolution, "SWITCHBOARD_MQTT_MAX_CONNECTIONS_PER_SOLUTION",
		"devices of one solution connected to --mqtt-listen at once (its listener connectors count); more are refused")
	o.mqttStoragePerSolution = hub.DefaultMQTTStoragePerSolution
	varFlag(fs, &o.mqttStoragePerSolution, "mqtt-storage-per-solution", "SWITCHBOARD_MQTT_STORAGE_PER_SOLUTION",
		"what --mqtt-listen keeps for one solution's devices at most: sessions, retained messages, QoS 1 and 2 messages not yet acknowledged")
	stringFlag(fs, &o.adminToken, "admin-token", "", "", "SWITCHBOARD_ADMIN_TOKEN",
		"admin API token (at least 16 characters); empty reads <data>/admin-token, generating it on first start")
	stringFlag(fs, &o.registrationToken, "registration-token", "", "", "SWITCHBOARD_REGISTRATION_TOKEN",
		"token dynamic services register with (at least 16 characters); empty reads or generates <data>/registration-token")
	stringFlag(fs, &o.instanceName, "instance-name", "", "", "SWITCHBOARD_INSTANCE_NAME",
		"this instance's name on the bus; empty uses the host name")
	stringFlag(fs, &o.kaaInstanceName, "kaa-instance-name", "", "switchboard", "SWITCHBOARD_KAA_INSTANCE_NAME",
		"Kaa service instance name (23/AIP automations): the originator in the subjects invocations are published on, and the queue group that every instance's executor shares")
	fs.BoolVar(&o.kaaExecutor, "kaa-executor", true,
		"execute Kaa automation invocations from kaa.v1.events.*.service.automation.* on the bus"+envSuffix("SWITCHBOARD_KAA_EXECUTOR"))
	bindEnv(fs, "kaa-executor", "SWITCHBOARD_KAA_EXECUTOR")
	fs.BoolVar(&o.keystoreFence, "keystore-fence", true,
		"with other instances on the NATS, let the only writer of a busy Keystore bucket fence it, answering a set of the value a key holds from memory; false keeps every bucket open to writers outside Switchboard"+envSuffix("SWITCHBOARD_KEYSTORE_FENCE"))
	bindEnv(fs, "keystore-fence", "SWITCHBOARD_KEYSTORE_FENCE")
	stringFlag(fs, &o.kaaTriggers, "kaa-triggers", "", "*", "SWITCHBOARD_KAA_TRIGGERS",
		"comma-separated trigger service instance names whose automation invocations are executed; * any")
	stringFlag(fs, &o.kaaTypes, "kaa-types", "", "*", "SWITCHBOARD_KAA_TYPES",
		"comma-separated automation types executed, e.g. email-notification; * any")
	stringFlag(fs, &o.publicURL, "public-url", "", "", "SWITCHBOARD_PUBLIC_URL",
		"the base URL clients reach this server at, e.g. https://switchboard.example.com: the issuer of the event gateway's access tokens; empty is http://<--addr>, or https://<--addr> with --tls-cert")
	stringFlag(fs, &o.tlsCert, "tls-cert", "", "", "SWITCHBOARD_TLS_CERT",
		"PEM file of the server certificate (its chain after it): --addr then serves HTTPS and asks clients for certificates, which the event gateway checks against each application's own CA; needs --tls-key")
	stringFlag(fs, &o.tlsKey, "tls-key", "", "", "SWITCHBOARD_TLS_KEY",
		"PEM file of the private key of --tls-cert")
	intFlag(fs, &o.gatewayMaxIssuers, "gateway-max-issuers", gateway.DefaultMaxIssuers, "SWITCHBOARD_GATEWAY_MAX_ISSUERS",
		"outside OpenID Connect issuers whose keys the event gateway keeps at once, for the applications that trust them; another takes the place of one only when that one was unused for a minute")
	stringFlag(fs, &o.appsDomain, "apps-domain", "", "", "SWITCHBOARD_APPS_DOMAIN",
		"serve each solution's endpoints at {solution}.<domain> by Host header, e.g. apps.example.com")
	stringFlag(fs, &o.serviceNetworks, "service-networks", "", "", "SWITCHBOARD_SERVICE_NETWORKS",
		"comma-separated CIDRs dynamic services may live in, e.g. 10.0.0.0/8; empty allows any address but the hub's own listeners and link-local/metadata ones")
	stringFlag(fs, &o.connectorNetworks, "connector-networks", "", "", "SWITCHBOARD_CONNECTOR_NETWORKS",
		"comma-separated CIDRs connectors may connect to (their brokers), e.g. 10.0.0.0/8; empty allows any address but the hub's own listeners and link-local/metadata ones")
	intFlag(fs, &o.connectorMaxPending, "connector-max-pending", connector.DefaultMaxPending, "SWITCHBOARD_CONNECTOR_MAX_PENDING",
		"events of its topic that may wait for handlers before a connector stops taking messages from its source (a connector's own max_pending overrides it)")
	intFlag(fs, &o.connectorMaxPendingPerSolution, "connector-max-pending-per-solution", connector.DefaultMaxPendingPerSolution, "SWITCHBOARD_CONNECTOR_MAX_PENDING_PER_SOLUTION",
		"events of all of a solution's topics together that may wait for handlers before every connector of the solution stops taking messages")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 15*time.Second,
		"how long in-flight requests may take to finish after SIGINT/SIGTERM"+envSuffix("SWITCHBOARD_SHUTDOWN_TIMEOUT"))
	bindEnv(fs, "shutdown-timeout", "SWITCHBOARD_SHUTDOWN_TIMEOUT")
	o.maxBodyBytes = 4 << 20
	varFlag(fs, &o.maxBodyBytes, "max-body-bytes", "SWITCHBOARD_MAX_BODY_BYTES",
		"largest request body accepted by the API and the endpoints, e.g. 4MiB or 1048576")
	intFlag(fs, &o.maxRuns, "max-runs", admission.DefaultRuns, "SWITCHBOARD_MAX_RUNS",
		"requests running scripts or holding bodies at once (endpoints, triggers, calls); more get 503 with Retry-After")
	intFlag(fs, &o.maxRunsPerSolution, "max-runs-per-solution", admission.DefaultRunsPerSolution, "SWITCHBOARD_MAX_RUNS_PER_SOLUTION",
		"requests running scripts at once for one solution; more get 429 with Retry-After")
	o.maxBodyHeld, o.maxBodyHeldPerSolution = admission.DefaultBytes, admission.DefaultBytesPerSolution
	varFlag(fs, &o.maxBodyHeld, "max-body-held", "SWITCHBOARD_MAX_BODY_HELD",
		"request body bytes endpoints, triggers and calls may hold at once; more get 503 with Retry-After")
	varFlag(fs, &o.maxBodyHeldPerSolution, "max-body-held-per-solution", "SWITCHBOARD_MAX_BODY_HELD_PER_SOLUTION",
		"request body bytes one solution's endpoints, triggers and calls may hold at once; more get 429 with Retry-After")
	fs.DurationVar(&o.bodyReadTimeout, "body-read-timeout", 30*time.Second,
		"how long the request body of an endpoint, a trigger or a call may take to arrive (408 after)"+envSuffix("SWITCHBOARD_BODY_READ_TIMEOUT"))
	bindEnv(fs, "body-read-timeout", "SWITCHBOARD_BODY_READ_TIMEOUT")
	fs.DurationVar(&o.bodyGrace, "body-grace", 5*time.Second,
		"how soon a request body must start to arrive; after it, at least --body-min-rate a second (408 else)"+envSuffix("SWITCHBOARD_BODY_GRACE"))
	bindEnv(fs, "body-grace", "SWITCHBOARD_BODY_GRACE")
	o.bodyMinRate = 8 << 10
	varFlag(fs, &o.bodyMinRate, "body-min-rate", "SWITCHBOARD_BODY_MIN_RATE",
		"bytes a second a request body must keep up on average after --body-grace, e.g. 8KiB (408 else)")
	stringFlag(fs, &o.metricsAddr, "metrics-addr", "", "", "SWITCHBOARD_METRICS_ADDR",
		"serve /metrics on this address (host:port) only, instead of on --addr")
	stringFlag(fs, &o.metricsToken, "metrics-token", "", "", "SWITCHBOARD_METRICS_TOKEN",
		"bearer token that may read /metrics (besides the admin token; at least 16 characters); on --metrics-addr, /metrics needs it when set")
	stringFlag(fs, &o.otlpEndpoint, "otlp-endpoint", "", "", "SWITCHBOARD_OTLP_ENDPOINT",
		"export OpenTelemetry traces to this OTLP/HTTP collector, e.g. http://collector:4318 (empty: no tracing)")
	fs.Float64Var(&o.otlpSampleRatio, "otlp-sample-ratio", 1, "share of new traces recorded, 0..1 (a trace continued from a caller follows its sampled flag)"+envSuffix("SWITCHBOARD_OTLP_SAMPLE_RATIO"))
	bindEnv(fs, "otlp-sample-ratio", "SWITCHBOARD_OTLP_SAMPLE_RATIO")
	o.runsMemory = script.DefaultRunsMemory
	varFlag(fs, &o.runsMemory, "runs-memory", "SWITCHBOARD_RUNS_MEMORY",
		"memory all script runs together may hold (their values and raw bodies); a run beyond it gets 503")
	fs.DurationVar(&o.logsMaxAge, "logs-max-age", solutionlog.DefaultMaxAge,
		"how long solutions' log entries are kept"+envSuffix("SWITCHBOARD_LOGS_MAX_AGE"))
	bindEnv(fs, "logs-max-age", "SWITCHBOARD_LOGS_MAX_AGE")
	o.logsMaxBytes = solutionlog.DefaultMaxBytes
	varFlag(fs, &o.logsMaxBytes, "logs-max-bytes", "SWITCHBOARD_LOGS_MAX_BYTES",
		"size of all solutions' log entries together; the oldest go first beyond it")
	fs.Int64Var(&o.logsPerSolution, "logs-per-solution", solutionlog.DefaultPerSolution,
		"log entries one solution keeps at most; its oldest go first beyond it"+envSuffix("SWITCHBOARD_LOGS_PER_SOLUTION"))
	bindEnv(fs, "logs-per-solution", "SWITCHBOARD_LOGS_PER_SOLUTION")
	stringFlag(fs, &o.logLevel, "log-level", "", "info", "SWITCHBOARD_LOG_LEVEL",
		"log level: debug, info, warn or error")
	stringFlag(fs, &o.logFormat, "log-format", "", "text", "SWITCHBOARD_LOG_FORMAT",
		"log format: text or json")
}

// config is the hub configuration for these options and the data directory. It starts nothing.
func (o *serveOptions) config(dataDir string) hub.Config {
	return hub.Config{
		Addr:                           o.addr,
		DataDir:                        dataDir,
		NATSURL:                        o.natsURL,
		NATSListen:                     o.natsListen,
		Replicas:                       o.replicas,
		AdminToken:                     o.adminToken,
		RegistrationToken:              o.registrationToken,
		InstanceName:                   o.instanceName,
		KaaInstanceName:                o.kaaInstanceName,
		KaaExecutorOff:                 !o.kaaExecutor,
		KeystoreFenceOff:               !o.keystoreFence,
		KaaTriggers:                    o.kaaTriggers,
		KaaTypes:                       o.kaaTypes,
		AppsDomain:                     o.appsDomain,
		PublicURL:                      o.publicURL,
		TLSCert:                        o.tlsCert,
		TLSKey:                         o.tlsKey,
		GatewayMaxIssuers:              o.gatewayMaxIssuers,
		ServiceNetworks:                o.serviceNetworks,
		ConnectorNetworks:              o.connectorNetworks,
		ConnectorMaxPending:            o.connectorMaxPending,
		ConnectorMaxPendingPerSolution: o.connectorMaxPendingPerSolution,
		ShutdownTimeout:                o.shutdownTimeout,
		MaxBodyBytes:                   int64(o.maxBodyBytes),
		RunsMemory:                     int64(o.runsMemory),
		MaxRuns:                        o.maxRuns,
		MaxRunsPerSolution:             o.maxRunsPerSolution,
		MaxBodyHeld:                    int64(o.maxBodyHeld),
		MaxBodyHeldPerSolution:         int64(o.maxBodyHeldPerSolution),
		BodyReadTimeout:                o.bodyReadTimeout,
		BodyGrace:                      o.bodyGrace,
		BodyMinRate:                    int64(o.bodyMinRate),
		MetricsAddr:                    o.metricsAddr,
		OTLPEndpoint:                   o.otlpEndpoint,
		OTLPSampleRatio:                o.sampleRatio(),
		MetricsToken:                   o.metricsToken,
		LogsMaxAge:                     o.logsMaxAge,
		LogsMaxBytes:                   int64(o.logsMaxBytes),
		LogsPerSolution:                o.logsPerSolution,
		LogLevel:                       o.logLevel,
		LogFormat:                      o.logFormat,
		MQTTListen:                     o.mqttListen,
		LeafListen:                     o.leafListen,
		LeafAdvertise:                  o.leafAdvertise,
		MQTTMaxConnections:             o.mqttMaxConns,
		MQTTMaxConnectionsPerSolution:  o.mqttMaxConnsPerSol,
		MQTTStoragePerSolution:         int64(o.mqttStoragePerSolution),
	}
}

const serveLong = `Run the Switchboard server: the management API under /api/v1, the solutions'
endpoints, /healthz and /readyz, on --addr. It runs until SIGINT or SIGTERM, then lets
in-flight requests finish (up to --shutdown-timeout) and exits.

State lives under --data. Unless --admin-token is given, the server reads the admin
token from <data>/admin-token, generating it there on first start; the other
switchboard commands read the same file, so on one machine they work without setup.

Every flag can also be set by its environment variable, SWITCHBOARD_ followed by the
flag's name in upper case with "_" for "-" (--shutdown-timeout: SWITCHBOARD_SHUTDOWN_TIMEOUT).
A flag on the command line wins over its variable. Prefer the variables for tokens:
command lines are visible to other users of the machine.`

const serveExample = `  # Local server with state in ./data
  switchboard serve

  # Listen on every interface, keep state in /var/lib/switchboard
  switchboard serve --addr :8080 --data /var/lib/switchboard

  # Use an outside NATS, JSON logs, configured from the environment
  SWITCHBOARD_NATS_URL=nats://nats:4222 SWITCHBOARD_LOG_FORMAT=json switchboard serve

  # On a 3-node NATS cluster, keeping 3 copies of every stream and bucket
  switchboard serve --nats-url nats://n1:4222,nats://n2:4222,nats://n3:4222 --replicas 3

  # Let devices publish over MQTT to Switchboard itself (user: solution id, password: its token)
  switchboard serve --mqtt-listen :1883`

func (a *app) newServeCmd() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:     "serve",
		Short:   "Run the Switchboard server",
		Long:    serveLong,
		Example: serveExample,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := o.config(a.dataDir)
			if err := cfg.Defaults().Validate(); err != nil {
				return &usageError{err}
			}
			return a.serve(cmd.Context(), cfg)
		},
	}
	o.register(cmd.Flags())
	return cmd
}

// softMemoryLimit is the Go runtime's soft memory limit for a hub with cfg, when GOMEMLIMIT
// does not set one: what script runs may hold, and 128 MiB for the rest of the process.
func softMemoryLimit(cfg hub.Config) int64 {
	return cfg.RunsMemory + 128<<20
}

// runHub runs a hub with cfg until ctx is done or the process gets SIGINT or SIGTERM.
func runHub(ctx context.Context, cfg hub.Config) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv("GOGC") == "" {
		// The live heap is a few MiB, so the default GOGC collects dozens of times a second
		// under load; 400 trades a few MiB for a fifth of the collections.
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// GOGC=400 lets the heap grow to five times what is live before a collection: 30 runs
		// holding the whole runs' pool reached 1.4 GiB. A soft limit of the pool plus room for
		// everything else makes the collector run before that.
		debug.SetMemoryLimit(softMemoryLimit(cfg.Defaults()))
	}
	h, err := hub.New(cfg, nil)
	if err != nil {
		return err
	}
	return h.Run(ctx)
}

// sampleRatio is --otlp-sample-ratio for the config: nil when it is the default, 1.
func (o *serveOptions) sampleRatio() *float64 {
	if o.otlpSampleRatio == 1 {
		return nil
	}
	r := o.otlpSampleRatio
	return &r
}
