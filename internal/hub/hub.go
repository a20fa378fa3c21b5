// Package hub wires Switchboard's parts together and owns the serve lifecycle.
package hub

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboardhq/switchboard/internal/admission"
	"github.com/switchboardhq/switchboard/internal/api"
	"github.com/switchboardhq/switchboard/internal/application"
	"github.com/switchboardhq/switchboard/internal/automation"
	"github.com/switchboardhq/switchboard/internal/bus"
	"github.com/switchboardhq/switchboard/internal/catalog"
	"github.com/switchboardhq/switchboard/internal/compass"
	"github.com/switchboardhq/switchboard/internal/connector"
	"github.com/switchboardhq/switchboard/internal/console"
	"github.com/switchboardhq/switchboard/internal/core/automationsvc"
	"github.com/switchboardhq/switchboard/internal/core/config"
	"github.com/switchboardhq/switchboard/internal/core/eventsvc"
	"github.com/switchboardhq/switchboard/internal/core/keystore"
	"github.com/switchboardhq/switchboard/internal/core/outbound"
	"github.com/switchboardhq/switchboard/internal/dynamic"
	"github.com/switchboardhq/switchboard/internal/edge"
	"github.com/switchboardhq/switchboard/internal/events"
	"github.com/switchboardhq/switchboard/internal/faasgw"
	"github.com/switchboardhq/switchboard/internal/gateway"
	"github.com/switchboardhq/switchboard/internal/history"
	"github.com/switchboardhq/switchboard/internal/hosted"
	"github.com/switchboardhq/switchboard/internal/metrics"
	"github.com/switchboardhq/switchboard/internal/oauth"
	"github.com/switchboardhq/switchboard/internal/script"
	"github.com/switchboardhq/switchboard/internal/service"
	"github.com/switchboardhq/switchboard/internal/servicenet"
	"github.com/switchboardhq/switchboard/internal/solution"
	"github.com/switchboardhq/switchboard/internal/solutionlog"
	"github.com/switchboardhq/switchboard/internal/tracing"
	"github.com/switchboardhq/switchboard/internal/webapp"
)

// Hub is a configured Switchboard instance.
type Hub struct {
	cfg Config
	log *slog.Logger

	// Set by Start.
	adminToken, adminTokenFile string
	regToken, regTokenFile     string
	natsTokenFile              string
	bus                        *bus.Bus
	store                      *solution.Store
	keystore                   *keystore.Store
	catalog                    *catalog.Catalog
	handlers                   *events.Store
	dispatcher                 *events.Dispatcher
	connectors                 *connector.Store
	applications               *application.Store // the GraphQL API's applications
	hosted                     *hosted.Store      // the solutions' hosted services
	edges                      *edgeNodes         // the agents' nodes; nil without --leaf-listen
	hubNode                    *hubNodes          // the Lua instances flows assign the node hub
	oauth                      *oauth.Authority   // the event gateway's client credentials and tokens
	gateway                    *gateway.Gateway   // where applications publish their events
	connectorRuns              *connector.Manager
	outbound                   *connector.Outbound
	automations                *automation.Trigger
	executor                   *automation.Executor // nil with --kaa-executor=false
	webhooks                   *connector.Webhooks
	mqtt                       mqttTenants                 // the MQTT listener's logins
	listenerSessions           *connector.ListenerSessions // nil without --mqtt-listen
	faas                       *faasgw.Gateway
	logs                       *solutionlog.Log
	engine                     *script.Engine
	metrics                    *metrics.Metrics
	tracer                     *tracing.Tracer  // nil without --otlp-endpoint
	history                    *history.History // the solutions' metrics of the last hour
	sampler                    *history.Sampler
	gate                       *admission.Gate
	listener                   net.Listener
	tlsConfig                  *tls.Config // --tls-cert/--tls-key; nil serves HTTP
	server                     *http.Server
	metricsListener            net.Listener // --metrics-addr; nil when /metrics is on --addr
	metricsServer              *http.Server
	serveErr                   chan error
	ready                      bool
	quiet                      bool // Close after a failed Start
	mu                         sync.Mutex
}

// New checks cfg (after filling defaults) and returns a hub ready to Start. A nil logger logs to
// stderr at the configured level and format.
func New(cfg Config, log *slog.Logger) (*Hub, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = NewLogger(cfg.LogLevel, cfg.LogFormat)
	}
	return &Hub{cfg: cfg, log: log}, nil
}

// NewLogger returns the stderr logger serve uses.
func NewLogger(level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // validated in Config.Validate
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// Run starts the hub, serves until ctx is done, then shuts down gracefully.
func (h *Hub) Run(ctx context.Context) error {
	if err := h.Start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		h.log.Info("shutting down", "reason", context.Cause(ctx))
	case err := <-h.serveErr:
		h.log.Error("http server stopped", "err", err)
		_ = h.Close(context.Background())
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), h.cfg.ShutdownTimeout)
	defer cancel()
	return h.Close(sctx)
}

// Start brings every part up and starts serving HTTP; it returns once the hub is ready.
func (h *Hub) Start(ctx context.Context) (err error) {
	began := time.Now()
	defer func() {
		if err != nil {
			h.quiet = true // nothing started: no "stopped" line
			_ = h.Close(context.Background())
		}
	}()
	h.adminToken, h.adminTokenFile, err = loadOrCreateToken(h.cfg.AdminToken, h.cfg.DataDir, "admin-token", "sba_")
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	h.regToken, h.regTokenFile, err = loadOrCreateToken(h.cfg.RegistrationToken, h.cfg.DataDir, "registration-token", "sbr_")
	if err != nil {
		return fmt.Errorf("registration token: %w", err)
	}
	var natsToken string
	if h.cfg.NATSListen != "" {
		// Outside programs on --nats-listen must present this token (in <data>/nats-token).
		natsToken, h.natsTokenFile, err = loadOrCreateToken("", h.cfg.DataDir, "nats-token", "sbn_")
		if err != nil {
			return fmt.Errorf("nats token: %w", err)
		}
	}
	// Listen before starting the engine, so a taken port fails fast and clearly.
	h.listener, err = net.Listen("tcp", h.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on --addr %s: %w", h.cfg.Addr, err)
	}
	if h.cfg.TLSCert != "" {
		if h.tlsConfig, err = serverTLS(h.cfg.TLSCert, h.cfg.TLSKey); err != nil {
			return err
		}
	}
	if h.cfg.MetricsAddr != "" {
		h.metricsListener, err = net.Listen("tcp", h.cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen on --metrics-addr %s: %w", h.cfg.MetricsAddr, err)
		}
	}
	h.bus, err = bus.Open(ctx, bus.Config{
		URL: h.cfg.NATSURL, DataDir: h.cfg.DataDir, Listen: h.cfg.NATSListen, Token: natsToken, Name: h.cfg.InstanceName,
		Replicas: h.cfg.Replicas, MQTT: h.mqttBusConfig(), Leaf: h.leafBusConfig(),
	})
	if re := (*bus.ReplicasError)(nil); errors.As(err, &re) {
		return fmt.Errorf("--replicas %d: %w", re.Want, err)
	}
	if err != nil {
		return err
	}
	h.store, err = solution.Open(ctx, h.bus, h.log)
	if err != nil {
		return fmt.Errorf("open solutions: %w", err)
	}
	h.mqtt.store.Store(h.store) // devices may log in from now on
	h.keystore = keystore.New(h.bus, keystore.Options{
		// A run still going when its solution is deleted must not bring its keystore back.
		Exists:  func(id string) bool { _, ok := h.store.Get(id); return ok },
		NoFence: h.cfg.KeystoreFenceOff,
		Logger:  h.log,
	})

	h.engine = script.NewEngine(script.Options{Logger: h.log, RunsMemory: h.cfg.RunsMemory})
	h.metrics = metrics.New()
	h.metrics.Registry.MustRegister(newKeystoreCollector(h.keystore))
	ratio := 1.0
	if h.cfg.OTLPSampleRatio != nil {
		ratio = *h.cfg.OTLPSampleRatio
	}
	h.tracer, err = tracing.New(tracing.Config{Endpoint: h.cfg.OTLPEndpoint, SampleRatio: ratio, Instance: h.cfg.InstanceName})
	if err != nil {
		return err
	}
	h.logs, err = solutionlog.Open(ctx, h.bus, solutionlog.Options{
		MaxAge: h.cfg.LogsMaxAge, MaxBytes: h.cfg.LogsMaxBytes, PerSolution: h.cfg.LogsPerSolution,
		Logger: h.log, Metrics: h.metrics,
	})
	if err != nil {
		return err
	}
	h.history, err = history.Open(ctx, h.bus, history.Options{Interval: h.cfg.MetricsInterval, Logger: h.log})
	if err != nil {
		return err
	}
	h.gate = admission.New(admission.Limits{
		Runs: h.cfg.MaxRuns, RunsPerSolution: h.cfg.MaxRunsPerSolution,
		Bytes: h.cfg.MaxBodyHeld, BytesPerSolution: h.cfg.MaxBodyHeldPerSolution,
	}, func(reason string) { h.metrics.AdmissionRejected.WithLabelValues(reason).Inc() })

	// Every request to a service (documents, health checks, calls, lifecycle hooks) dials
	// through this guard.
	guard, err := h.serviceGuard(ctx)
	if err != nil {
		return err
	}
	core := service.NewRegistry()
	h.catalog, err = catalog.Open(ctx, h.bus, catalog.Options{
		CoreNames: func(name string) bool { _, ok := core.Lookup(name); return ok },
		Client:    guard.HTTPClient(5 * time.Second),
		Logger:    h.log,
	})
	if err != nil {
		return fmt.Errorf("open catalog: %w", err)
	}
	svc := &router{core: core, catalog: h.catalog, metrics: h.metrics, tracer: h.tracer,
		invoker: dynamic.New(dynamic.Options{Dial: guard.Dialer(dynamic.DefaultDialTimeout).DialContext, AppsDomain: h.cfg.AppsDomain})}
	cfgSvc := config.New(svc, solutionInfo{store: h.store})
	for _, c := range []service.Core{
		{Spec: h.keystore.Spec(), Caller: h.keystore},
		{Spec: cfgSvc.Spec(), Caller: cfgSvc},
	} {
		if err := core.Register(c); err != nil {
			return err
		}
	}

	h.handlers, err = events.OpenStore(ctx, h.bus, h.log)
	if err != nil {
		return fmt.Errorf("open handlers: %w", err)
	}
	autoMetrics := automation.NewMetrics(h.metrics.Registry)
	h.dispatcher = events.NewDispatcher(events.DispatcherOptions{
		Tracer:   h.tracer,
		Store:    h.handlers,
		Runner:   h.engine,
		Services: svc.forSolution,
		Limits: func(id string) (script.Limits, bool) {
			sol, ok := h.store.Get(id)
			return webapp.Limits(sol.Limits), ok
		},
		Bus:        h.bus,
		Logger:     h.log,
		Metrics:    h.metrics,
		Logs:       h.logs,
		MaxDeliver: h.cfg.EventMaxDeliver,
		Backoff:    retryWaits(h.cfg.EventRetryWait),
		Reply: func(ctx context.Context, e events.Event, handler string, res any, err error, took time.Duration) {
			h.faas.Reply(ctx, e, handler, res, err, took)
		},
		Finished: autoMetrics.Finished,
	})
	h.metrics.Registry.MustRegister(h.dispatcher.BacklogCollector())
	h.connectors, err = connector.OpenStore(ctx, h.bus, h.log)
	if err != nil {
		return fmt.Errorf("open connectors: %w", err)
	}
	// Connectors run on whichever instance holds their lease, named as on the bus.
	h.connectorRuns, err = connector.NewManager(ctx, h.bus, h.connectors, h.dispatcher, h.cfg.InstanceName, h.log)
	if err != nil {
		return fmt.Errorf("open connector leases: %w", err)
	}
	cguard, err := h.connectorGuard(ctx)
	if err != nil {
		return err
	}
	h.connectorRuns.UseGuard(cguard)
	// A connector whose handlers are behind stops taking messages from its source.
	h.connectorRuns.UseBounds(connector.Bounds{MaxPending: h.cfg.ConnectorMaxPending, MaxPendingPerSolution: h.cfg.ConnectorMaxPendingPerSolution,
		Count: events.NewPendingCounter(h.bus.JetStream()).Count})
	if h.cfg.MQTTListen != "" {
		h.connectorRuns.UseListener(mqttListener{h})
	}
	// Webhook connectors receive on every instance, at POST /hooks/{solution}/{name}.
	h.webhooks = connector.NewWebhooks(connector.WebhookOptions{Store: h.connectors, Publisher: h.dispatcher, Logger: h.log,
		MaxBody: h.cfg.MaxBodyBytes, Gate: h.gate, Pace: h.bodyPace()})
	evSvc := eventsvc.New(h.dispatcher)
	if err := core.Register(service.Core{Spec: evSvc.Spec(), Caller: evSvc}); err != nil {
		return err
	}
	// Outbound connectors publish from whichever instance runs the script, through the same
	// guard as every connector.
	h.outbound = connector.NewOutbound(connector.OutboundOptions{Store: h.connectors, Guard: cguard, Instance: h.cfg.InstanceName, Logger: h.log})
	outSvc := outbound.New(h.outbound)
	if err := core.Register(service.Core{Spec: outSvc.Spec(), Caller: outSvc}); err != nil {
		return err
	}
	// Kaa automations (23/AIP) go out on the bus under the deployment's Kaa instance name,
	// for Switchboard's executors or Kaa's.
	h.automations = automation.NewTrigger(h.bus.Conn(), h.cfg.KaaInstanceName, autoMetrics)
	autoSvc := automationsvc.New(h.automations)
	if err := core.Register(service.Core{Spec: autoSvc.Spec(), Caller: autoSvc}); err != nil {
		return err
	}
	// --- hosted services: a Lua service's code must compile ---
	h.hosted, err = hosted.OpenStore(ctx, h.bus, hosted.Options{Logger: h.log, Check: checkHostedCode})
	if err != nil {
		return err
	}
	h.hubNode, err = newHubNodes(ctx, h.bus, h.cfg.InstanceName, h.log, h.hosted, h.engine, h.dispatcher, h.logs)
	if err != nil {
		return err
	}
	if h.edges != nil {
		// Agents may log in from now on; their nodes' messages become events and log lines.
		h.edges.bus, h.edges.events, h.edges.logs, h.edges.solution = h.bus, h.dispatcher, h.logs, h.store.List
		h.edges.hosted.Store(h.hosted)
		h.edges.start(h.hosted)
	}
	// --- applications (GraphQL management API) ---
	// Specs are fetched through the connectors' guard: the URLs are the applications' side.
	h.applications, err = application.OpenStore(ctx, h.bus, application.Options{Logger: h.log, Parser: asyncAPIParser{},
		Subscriptions: extSubs{connectors: h.connectors, listener: h.cfg.MQTTListen != ""},
		Fetcher:       application.HTTPFetcher{Client: cguard.HTTPClient(30 * time.Second)}})
	if err != nil {
		return err
	}
	// Outside issuers' discovery and keys are fetched through the connectors' guard too.
	verifiers := gateway.NewOIDCVerifiers(gateway.OIDCVerifiersOptions{HTTPClient: cguard.HTTPClient(gateway.DefaultDiscoveryTimeout), Max: h.cfg.GatewayMaxIssuers})
	registry := newGatewayRegistry(h.applications, verifiers, func(id string) bool {
		sol, ok := h.store.Get(id)
		return ok && sol.MarksInvalidPayload()
	}, h.log)
	// Applications publish their events to the gateway (Kyma's paths), with an access token
	// of their client credentials, a token of the outside issuer they trust or a client
	// certificate of their CA; bodies are bounded as every caller's.
	h.gateway = gateway.New(gateway.Options{Registry: registry, Store: h.dispatcher,
		Auth:   gateway.OwnTokens{Verify: func(ctx context.Context, raw string) (oauth.Claims, error) { return h.oauth.Verify(ctx, raw) }},
		Issuer: h.publicURL(), Outside: verifiers,
		MaxBody: h.cfg.MaxBodyBytes, Gate: h.gate, Pace: h.bodyPace(),
		Metrics: gateway.NewMetrics(h.metrics.Registry), Logger: h.log,
		SolutionLog: func(sol string) func(slog.Level, string, map[string]any) {
			return h.logs.Writer(sol, "gateway", "")
		}})
	// Applications authenticate to the event gateway with OAuth2 client credentials, each
	// bound to an application's id; its tokens are signed with keys every instance shares.
	h.oauth, err = oauth.Open(ctx, h.bus, oauth.Config{Issuer: h.publicURL(), Log: h.log})
	if err != nil {
		return err
	}
	if h.cfg.MQTTListen != "" {
		// Applications publish on the listener too, with their client credentials, read by
		// their gw- connectors into the gateway.
		h.mqtt.apps.Store(&appLogins{auth: h.oauth, apps: h.applications})
		h.connectorRuns.UseGateway(listenerGateway{h.gateway})
	}
	graphqlAPI := compass.New(compass.Options{Store: h.applications, Logger: h.log,
		SolutionExists: func(id string) bool { _, ok := h.store.Get(id); return ok },
		Issuer:         credentialIssuer{auth: h.oauth, tokenURL: h.publicURL() + oauth.TokenPath},
		Unregistered: func(ctx context.Context, a application.Application) error {
			registry.forget(a)
			return h.oauth.DropApplication(ctx, a.Solution, a.ID)
		}})
	// --- end applications ---
	drop := func(ctx context.Context, id string) error {
		// Connectors first: none may publish to the solution while its state goes.
		if err := h.connectors.DropSolution(ctx, id); err != nil {
			return err
		}
		if err := h.applications.DropSolution(ctx, id); err != nil {
			return err
		}
		if err := h.hosted.DropSolution(ctx, id); err != nil {
			return err
		}
		if err := h.oauth.DropSolution(ctx, id); err != nil {
			return err
		}
		// Then its devices: disconnected, and what the MQTT listener kept for them deleted.
		if err := h.bus.DropMQTTAccounts(mqttAccountPrefix(id)); err != nil {
			return err
		}
		if err := h.keystore.Drop(ctx, id); err != nil {
			return err
		}
		if err := h.handlers.DropSolution(ctx, id); err != nil {
			return err
		}
		if err := h.dispatcher.DropDeadLetters(ctx, id); err != nil {
			return err
		}
		if err := h.logs.Drop(ctx, id); err != nil {
			return err
		}
		if err := h.history.Drop(ctx, id); err != nil {
			return err
		}
		// The services it had are told, as when a service is removed; their answer does not
		// hold the deletion up.
		for _, cfg := range h.catalog.Added(id) {
			if e, ok := h.catalog.Get(cfg.Service); ok && e.Desc.GC != "" {
				if _, err := svc.Lifecycle(ctx, id, cfg.Service, e.Desc.GC, cfg.Parameters); err != nil {
					h.log.Warn("service clean-up failed", "solution", id, "service", cfg.Service, "err", err)
				}
			}
		}
		return h.catalog.Drop(ctx, id)
	}
	if err := h.store.FinishDeletions(ctx, drop); err != nil {
		return fmt.Errorf("finish interrupted deletions: %w", err)
	}
	apps := webapp.New(webapp.Options{
		Tracer:     h.tracer,
		Store:      h.store,
		Runner:     h.engine,
		Services:   svc.forSolution,
		Metrics:    h.metrics,
		Logger:     h.log,
		AppsDomain: h.cfg.AppsDomain,
		MaxBody:    h.cfg.MaxBodyBytes,
		Gate:       h.gate,
		// A slow body must not hold its reservation for long.
		BodyPace:      h.bodyPace(),
		AddedServices: h.addedMarket,
		Logs:          h.logs,
	})
	// The Lua services flows assign the hub itself run from now on.
	h.hubNode.start(func() []string {
		var sols []string
		for _, sol := range h.store.List() {
			sols = append(sols, sol.ID)
		}
		return sols
	})
	h.store.OnEndpointsChange(apps.Rebuild)
	for _, sol := range h.store.List() {
		apps.Rebuild(sol.ID)
	}
	mgmt := api.New(api.Options{
		Store:             h.store,
		AdminToken:        h.adminToken,
		Droppers:          []api.Dropper{dropperFunc(drop)},
		Handlers:          h.handlers,
		Events:            h.dispatcher,
		DeadLetters:       h.dispatcher,
		Keystore:          h.keystore,
		Core:              core,
		Catalog:           h.catalog,
		Services:          svc,
		RegistrationToken: h.regToken,
		Metrics:           h.metrics,
		Logger:            h.log,
		MaxBody:           h.cfg.MaxBodyBytes,
		Gate:              h.gate,
		BodyPace:          h.bodyPace(),
		Runs:              apps,
		Logs:              h.logs,
		History:           h.history,
		Tails:             h.dispatcher,
		Connectors:        connectorsAPI{h.connectors, h.connectorRuns, h.outbound},
		Automations:       h.automations,
		GraphQL:           graphqlAPI,
		Hosted:            h.hosted,
		NodeLink: func(sol, node string) (string, string, string) {
			return leafURL(h.publicURL(), h.bus.LeafAddr(), h.cfg.LeafAdvertise, h.tlsConfig != nil), leafUser(sol, node), edge.Domain(sol, node)
		},
	})
	// OpenFaaS connectors invoke handlers through it; async results are POSTed through the
	// guard, so a callback URL cannot reach the hub's own listeners.
	h.faas = faasgw.New(faasgw.Options{
		Solutions:  h.store,
		Handlers:   h.handlers,
		Invoker:    h.dispatcher,
		AdminToken: h.adminToken,
		Gate:       h.gate,
		BodyPace:   h.bodyPace(),
		MaxBody:    h.cfg.MaxBodyBytes,
		Guard:      guard,
		Logger:     h.log,
	})
	// Delivery lives until Close, not as long as Start's context; it starts once the
	// gateway exists, as async calls' outcomes go back through it.
	if err := h.dispatcher.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start event delivery: %w", err)
	}
	// Connectors publish through delivery, so they start after it.
	h.connectorRuns.Start()
	h.sampler = h.history.StartSampler(history.SamplerOptions{
		Gatherer: h.metrics.History(),
		Lags: func() []history.Lag {
			var out []history.Lag
			for _, l := range h.connectorRuns.Lags() {
				out = append(out, history.Lag{Solution: l.Solution, Connector: l.Name, N: l.Lag})
			}
			return out
		},
		Exists:   func(id string) bool { _, ok := h.store.Get(id); return ok },
		Instance: h.cfg.InstanceName,
		Logger:   h.log,
	})
	if h.cfg.MQTTListen != "" {
		h.listenerSessions = connector.StartListenerSessions(h.connectorRuns, mqttListener{h}, h.log)
	}
	if !h.cfg.KaaExecutorOff {
		// Like connectors, it stores through delivery.
		h.executor, err = automation.StartExecutor(ctx, automation.ExecutorOptions{
			Conn: h.bus.Conn(), Queue: h.cfg.KaaInstanceName,
			Triggers: splitList(h.cfg.KaaTriggers), Types: splitList(h.cfg.KaaTypes),
			Store:     h.dispatcher,
			Solutions: func(id string) bool { _, ok := h.store.Get(id); return ok },
			Metrics:   autoMetrics, Logger: h.log,
		})
		if err != nil {
			return err
		}
	}

	h.server = &http.Server{
		Handler:           h.routes(apps, mgmt),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
	}
	// Live log follows never end on their own: they would hold a graceful shutdown.
	h.server.RegisterOnShutdown(h.logs.EndFollowers)
	h.server.RegisterOnShutdown(h.dispatcher.EndTails)
	h.serveErr = make(chan error, 2)
	go func() {
		var err error
		if h.tlsConfig != nil {
			h.server.TLSConfig = h.tlsConfig
			err = h.server.ServeTLS(h.listener, "", "")
		} else {
			err = h.server.Serve(h.listener)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.serveErr <- err
		}
	}()
	if h.metricsListener != nil {
		mux := http.NewServeMux()
		// Its own listener is reachable only where the operator put it; the token, if set, still applies.
		mux.Handle("GET /metrics", h.metricsHandler(h.cfg.MetricsToken != ""))
		h.metricsServer = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog: slog.NewLogLogger(h.log.Handler(), slog.LevelDebug)}
		go func() {
			if err := h.metricsServer.Serve(h.metricsListener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				h.serveErr <- fmt.Errorf("metrics listener: %w", err)
			}
		}()
	}
	h.mu.Lock()
	h.ready = true
	h.mu.Unlock()
	attrs := []any{"addr", h.scheme() + "://" + h.listener.Addr().String(), "ready_in", time.Since(began).Round(time.Millisecond).String()}
	if h.bus.Embedded() {
		attrs = append(attrs, "nats", "embedded", "data", h.cfg.DataDir)
		if u := h.bus.ClientURL(); u != "" {
			attrs = append(attrs, "nats_listen", u, "nats_token_file", h.natsTokenFile)
		}
		if a := h.bus.MQTTAddr(); a != "" {
			attrs = append(attrs, "mqtt_listen", "mqtt://"+a)
		}
		if a := h.bus.LeafAddr(); a != "" {
			attrs = append(attrs, "leaf_listen", "nats-leaf://"+a)
		}
	} else {
		attrs = append(attrs, "nats", bus.Redacted(h.cfg.NATSURL), "replicas", h.bus.Replicas())
	}
	if h.metricsListener != nil {
		attrs = append(attrs, "metrics", "http://"+h.metricsListener.Addr().String()+"/metrics")
	}
	if h.adminTokenFile != "" {
		attrs = append(attrs, "admin_token_file", h.adminTokenFile)
	}
	h.log.Info("switchboard ready", attrs...)
	return nil
}

// serviceGuard is the guard of the connections to services: never one of the hub's own
// listeners (add each new listener here), nor outside --service-networks when it is set.
func (h *Hub) serviceGuard(ctx context.Context) (*servicenet.Guard, error) {
	return h.guard(ctx, "--service-networks", h.cfg.ServiceNetworks)
}

// connectorGuard is the guard of connectors' connections to their brokers: the same
// addresses are never allowed as for services, and --connector-networks limits the rest.
func (h *Hub) connectorGuard(ctx context.Context) (*servicenet.Guard, error) {
	return h.guard(ctx, "--connector-networks", h.cfg.ConnectorNetworks)
}

func (h *Hub) guard(ctx context.Context, flag, networks string) (*servicenet.Guard, error) {
	nets, err := servicenet.ParseNetworks(networks)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	own := []string{h.listener.Addr().String()}
	if a := h.bus.ListenAddr(); a != "" {
		own = append(own, a)
	}
	if a := h.bus.MQTTAddr(); a != "" {
		own = append(own, a)
	}
	if a := h.bus.LeafAddr(); a != "" {
		own = append(own, a)
	}
	if h.metricsListener != nil {
		own = append(own, h.metricsListener.Addr().String())
	}
	own = append(own, natsHosts(h.cfg.NATSURL)...)
	g, err := servicenet.New(ctx, servicenet.Options{Networks: nets, Own: own})
	if err != nil {
		return nil, fmt.Errorf("%s guard: %w", flag, err)
	}
	return g, nil
}

// natsHosts are the host:port of each server of a --nats-url list (port 4222 when none):
// the bus is the hub's too.
func natsHosts(urls string) []string {
	var out []string
	for _, raw := range strings.Split(urls, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Hostname() == "" {
			continue
		}
		port := u.Port()
		if port == "" {
			port = "4222"
		}
		out = append(out, net.JoinHostPort(u.Hostname(), port))
	}
	return out
}

func (h *Hub) routes(apps *webapp.Handler, mgmt *api.Server) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n")) //nolint:errcheck // client gone
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := h.readiness(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]string{"status": "not ready", "reason": err.Error()}) //nolint:errcheck // client gone
			return
		}
		w.Write([]byte(`{"status":"ready"}` + "\n")) //nolint:errcheck // client gone
	})
	if h.metricsListener == nil {
		// Metrics name every solution: on the public address they need a token.
		mux.Handle("GET /metrics", h.metricsHandler(true))
	}
	mux.Handle("/api/v1/", mgmt)
	// The console, on the management origin only: a solution's own host ({solution}.{apps-domain})
	// is the solution's, whatever its path (below).
	con := console.New()
	mux.Handle("/console/", con)
	mux.Handle("/console", con)
	mux.Handle("POST "+oauth.TokenPath, h.oauth.TokenHandler())
	mux.Handle("GET /.well-known/jwks.json", h.oauth.JWKSHandler())
	h.gateway.Register(mux)
	mux.Handle("/hooks/{solution}/{name}", h.webhooks)
	for _, p := range faasgw.Patterns() {
		mux.Handle(p, h.faas)
	}
	mux.HandleFunc("/apps/{solution}/{path...}", func(w http.ResponseWriter, r *http.Request) {
		apps.ServeApp(w, r, r.PathValue("solution"), "/"+r.PathValue("path"), "/apps/"+r.PathValue("solution"))
	})
	mux.HandleFunc("/apps/{solution}", func(w http.ResponseWriter, r *http.Request) {
		apps.ServeApp(w, r, r.PathValue("solution"), "/", "/apps/"+r.PathValue("solution"))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A request to {solution}.{apps-domain} is the solution's, whatever its path.
		if sol, ok := apps.SolutionFromHost(r.Host); ok {
			apps.ServeApp(w, r, sol, r.URL.Path, "")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// metricsHandler serves the Prometheus metrics; with needToken, only to a bearer of the admin
// token or --metrics-token (Prometheus' authorization / bearer_token scrape settings).
func (h *Hub) metricsHandler(needToken bool) http.Handler {
	prom := promhttp.HandlerFor(metrics.WithInstance(h.metrics.Registry, h.cfg.InstanceName), promhttp.HandlerOpts{})
	if !needToken {
		return prom
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !(tokenIs(token, h.adminToken) || tokenIs(token, h.cfg.MetricsToken)) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard metrics"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"/metrics needs Authorization: Bearer <admin token or --metrics-token>"}` + "\n")) //nolint:errcheck // client gone
			return
		}
		prom.ServeHTTP(w, r)
	})
}

// tokenIs compares a presented token with a configured one in constant time; an unset one
// matches nothing.
func tokenIs(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// MetricsAddr is the address of the --metrics-addr listener, or "" when /metrics is served on
// the main address.
func (h *Hub) MetricsAddr() string {
	if h.metricsListener == nil {
		return ""
	}
	return h.metricsListener.Addr().String()
}

// Ready reports whether the hub serves and its engine is connected.
func (h *Hub) Ready() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ready && h.bus != nil && h.bus.Ready()
}

// readiness is why the hub should get no traffic, or nil: not started (or stopping), or its
// NATS not reachable or without a JetStream quorum (bus.Health, cached).
func (h *Hub) readiness() error {
	h.mu.Lock()
	ready, b := h.ready, h.bus
	h.mu.Unlock()
	if !ready || b == nil {
		return errors.New("starting or stopping")
	}
	return b.Health()
}

// Addr is the address the HTTP server listens on (useful with port 0).
func (h *Hub) Addr() string {
	if h.listener == nil {
		return ""
	}
	return h.listener.Addr().String()
}

// AdminToken is the admin token in force.
func (h *Hub) AdminToken() string { return h.adminToken }

// ServiceToken is the token of the dynamic service name.
func (h *Hub) ServiceToken(name string) string { return h.catalog.Token(name) }

// retryWaits is the back-off of durable events with every retry after wait (nil for the
// default back-off when wait is 0).
func retryWaits(wait time.Duration) []time.Duration {
	if wait <= 0 {
		return nil
	}
	return []time.Duration{wait}
}

// RegistrationToken is the token dynamic services register with.
func (h *Hub) RegistrationToken() string { return h.regToken }

// Close stops serving (letting in-flight requests finish until ctx ends), then closes every
// part, flushing what was written to the engine.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	h.ready = false
	h.mu.Unlock()
	var errs []error
	if h.server != nil {
		if err := h.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	} else if h.listener != nil {
		h.listener.Close()
	}
	if h.metricsServer != nil {
		if err := h.metricsServer.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("metrics shutdown: %w", err))
		}
	} else if h.metricsListener != nil {
		h.metricsListener.Close()
	}
	if h.sampler != nil {
		// Its last sample, what was counted since the one before, goes out while the bus is up.
		h.sampler.Close()
	}
	if h.faas != nil {
		// Async function calls still running need the parts closed below.
		if err := h.faas.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if h.store != nil {
		h.store.Close()
	}
	if h.listenerSessions != nil {
		h.listenerSessions.Close()
	}
	if h.executor != nil {
		// Before delivery closes: what it took off the bus is stored first.
		h.executor.Close()
	}
	if h.connectorRuns != nil {
		// Before delivery closes: a connector stopped here acknowledges nothing more, and its
		// leases go at once, so another instance takes its connectors over.
		h.connectorRuns.Close()
	}
	if h.connectors != nil {
		h.connectors.Close()
	}
	if h.applications != nil {
		h.applications.Close()
	}
	if h.hubNode != nil {
		h.hubNode.close(ctx)
	}
	if h.edges != nil {
		h.edges.close()
	}
	if h.hosted != nil {
		h.hosted.Close()
	}
	if h.oauth != nil {
		h.oauth.Close()
	}
	if h.dispatcher != nil {
		h.dispatcher.Close()
	}
	if h.outbound != nil {
		// After delivery: a handler still running publishes to the end.
		h.outbound.Close()
	}
	if h.handlers != nil {
		h.handlers.Close()
	}
	if h.catalog != nil {
		h.catalog.Close()
	}
	if h.keystore != nil {
		if err := h.keystore.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if h.engine != nil {
		h.engine.Close()
	}
	if h.logs != nil {
		// What the last runs wrote is published before the connection goes.
		h.logs.Close(ctx)
	}
	if h.bus != nil {
		if err := h.bus.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 && !h.quiet {
		h.log.Info("switchboard stopped")
	}
	// Last, so the spans of everything closed above are exported.
	if err := h.tracer.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("export traces: %w", err))
	}
	return errors.Join(errs...)
}

// connectorsAPI is what the API serves of connectors: the store, with each one's status from
// the manager (inbound) or from this instance's outbound publishes (outbound).
type connectorsAPI struct {
	*connector.Store
	runs *connector.Manager
	out  *connector.Outbound
}

func (c connectorsAPI) Status(ctx context.Context, cn connector.Connector) connector.Status {
	if cn.Direction == connector.DirectionOut {
		return c.out.Status(cn)
	}
	return c.runs.Status(ctx, cn)
}

// dropperFunc adapts a function to api.Dropper.
type dropperFunc func(ctx context.Context, solution string) error

func (f dropperFunc) Drop(ctx context.Context, solution string) error { return f(ctx, solution) }

// RunningScripts is how many script runs are in progress on this instance.
func (h *Hub) RunningScripts() int {
	if h.engine == nil {
		return 0
	}
	return h.engine.Running()
}

// addedMarket is what a solution's API page shows of the dynamic services it added.
func (h *Hub) addedMarket(solution string) []catalog.Market {
	var out []catalog.Market
	for _, cfg := range h.catalog.Added(solution) {
		if e, ok := h.catalog.Get(cfg.Service); ok {
			out = append(out, e.Desc.Market())
		}
	}
	return out
}

// bodyPace is how fast request bodies must arrive.
func (h *Hub) bodyPace() admission.Pace {
	return admission.Pace{Grace: h.cfg.BodyGrace, MinRate: h.cfg.BodyMinRate, Max: h.cfg.BodyReadTimeout}
}

// Logs is the solutions' log.
func (h *Hub) Logs() *solutionlog.Log { return h.logs }

// Gate is the admission gate bounding runs in flight and request bodies held; its counts show
// what requests hold at the moment.
func (h *Hub) Gate() *admission.Gate { return h.gate }
