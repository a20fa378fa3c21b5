// Command demoexternalservice is the Demo dynamic service: scripts of a solution call it to
// call other services (callService) and to trigger its event (triggerEvent). See README.md.
//
// Environment:
//
//	SWITCHBOARD_URL                     the hub (default http://127.0.0.1:8080)
//	SWITCHBOARD_REGISTRATION_TOKEN      the hub's registration token, or
//	SWITCHBOARD_REGISTRATION_TOKEN_FILE a file holding it (default ../../data/registration-token)
//	SWITCHBOARD_SERVICE_TOKEN           the service token of an earlier registration, or
//	SWITCHBOARD_SERVICE_TOKEN_FILE      the file that keeps it across restarts (default
//	                                    demoexternalservice.token; the hub updates a registered
//	                                    service only for its own token)
//	PORT                                the port to listen on (default 8091)
//	SERVICE_HOST                        the host the hub reaches the service at (default 127.0.0.1)
//	LOCAL_NAMESPACE, PLATFORM_NAMESPACE the Kubernetes namespaces of the service and of the hub,
//	                                    when they differ (optional)
package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/switchboardhq/switchboard/pkg/servicekit"
)

const name = "demoexternalservice"

//go:embed swagger.yaml
var document []byte

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("demoexternalservice stopped", "error", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	token, err := registrationToken()
	if err != nil {
		return err
	}
	port := getenv("PORT", "8091")
	svc, err := servicekit.New(servicekit.Config{
		Name:              name,
		HubURL:            getenv("SWITCHBOARD_URL", "http://127.0.0.1:8080"),
		RegistrationToken: token,
		Token:             os.Getenv("SWITCHBOARD_SERVICE_TOKEN"),
		TokenFile:         getenv("SWITCHBOARD_SERVICE_TOKEN_FILE", name+".token"),
		Document:          document,
		Host:              net.JoinHostPort(getenv("SERVICE_HOST", "127.0.0.1"), port),
		Namespace:         os.Getenv("LOCAL_NAMESPACE"),
		PlatformNamespace: os.Getenv("PLATFORM_NAMESPACE"),
		Logger:            log,
	})
	if err != nil {
		return err
	}
	d := &demo{svc: svc, log: log}
	svc.Handle("callService", d.callService)
	svc.Handle("triggerEvent", d.triggerEvent)
	svc.Handle("init", d.init)
	svc.Handle("gc", d.gc)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Listen, register with the hub (retrying until it answers), serve until interrupted.
	return svc.Run(ctx, ":"+port)
}

type demo struct {
	svc *servicekit.Service
	log *slog.Logger
}

// callService calls {service, operation, args} for the calling solution and returns the
// result: Demoexternalservice.callService({service="Keystore", operation="get", args="my-key"}).
func (d *demo) callService(ctx context.Context, req *servicekit.Request) (any, error) {
	service, _ := req.Args["service"].(string)
	operation, _ := req.Args["operation"].(string)
	if service == "" || operation == "" {
		return nil, servicekit.Errorf(http.StatusBadRequest, "service and operation are required")
	}
	if req.Solution == "" {
		return nil, servicekit.Errorf(http.StatusBadRequest, "the call names no solution (%s)", servicekit.HeaderSolution)
	}
	service = strings.ToLower(service) // scripts use the alias (Keystore), the hub the name (keystore)
	args, err := callArgs(service, req.Args["args"])
	if err != nil {
		return nil, err
	}
	return d.svc.Call(ctx, req.Solution, service, operation, args)
}

// callArgs are the arguments of the call: an object as is; a string, for the Keystore, as the
// key its operations take ("my-key" is {"key": "my-key"}).
func callArgs(service string, args any) (any, error) {
	switch a := args.(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return a, nil
	case string:
		if service == "keystore" {
			return map[string]any{"key": a}, nil
		}
	}
	return nil, servicekit.Errorf(http.StatusBadRequest, "args must be an object (a string is taken as the key of a Keystore operation)")
}

// triggerEvent triggers this service's event {event, data} for the calling solution and
// returns the result of the solution's handler:
// Demoexternalservice.triggerEvent({service="demoexternalservice", event="event"}).
func (d *demo) triggerEvent(ctx context.Context, req *servicekit.Request) (any, error) {
	event, _ := req.Args["event"].(string)
	if event == "" {
		return nil, servicekit.Errorf(http.StatusBadRequest, "event is required")
	}
	if service, _ := req.Args["service"].(string); service != "" && !strings.EqualFold(service, name) {
		return nil, servicekit.Errorf(http.StatusForbidden, "%s can only trigger its own events, not %s's", name, service)
	}
	if req.Solution == "" {
		return nil, servicekit.Errorf(http.StatusBadRequest, "the call names no solution (%s)", servicekit.HeaderSolution)
	}
	async, _ := req.Args["async"].(bool)
	return d.svc.Trigger(ctx, req.Solution, event, req.Args["data"], async)
}

// init is called by the hub when a solution adds the service.
func (d *demo) init(_ context.Context, req *servicekit.Request) (any, error) {
	d.log.Info("solution added the service", "solution", req.Args["solution"])
	return nil, nil
}

// gc is called by the hub when a solution removes the service.
func (d *demo) gc(_ context.Context, req *servicekit.Request) (any, error) {
	d.log.Info("solution removed the service", "solution", req.Args["solution"])
	return nil, nil
}

func registrationToken() (string, error) {
	if t := strings.TrimSpace(os.Getenv("SWITCHBOARD_REGISTRATION_TOKEN")); t != "" {
		return t, nil
	}
	file := getenv("SWITCHBOARD_REGISTRATION_TOKEN_FILE", "../../data/registration-token")
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("no registration token: set SWITCHBOARD_REGISTRATION_TOKEN, or SWITCHBOARD_REGISTRATION_TOKEN_FILE to the hub's data/registration-token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", errors.New("no registration token: " + file + " is empty")
	}
	return t, nil
}

func getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
