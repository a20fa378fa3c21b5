// Command echoservice is the dynamic service of bench/dynamic.sh: one operation, echo, that
// answers {"value": <value>}. With ECHO_NO_VERIFY=1 it accepts unsigned requests, so that the
// benchmark can also call it directly.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchboardhq/switchboard/pkg/servicekit"
)

const document = `swagger: "2.0"
info: {title: echo, version: "1.0.0"}
host: 127.0.0.1
schemes: [http]
x-exosite-health-path: /health
paths:
  /echo:
    post:
      operationId: echo
      parameters:
        - {name: body, in: body, schema: {type: object, properties: {value: {type: string}}}}
      responses: {"200": {description: the value}}
`

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	addr := os.Getenv("ECHO_ADDR")
	svc, err := servicekit.New(servicekit.Config{
		Name:               "echo",
		HubURL:             os.Getenv("SWITCHBOARD_URL"),
		RegistrationToken:  os.Getenv("SWITCHBOARD_REGISTRATION_TOKEN"),
		Document:           []byte(document),
		Host:               addr,
		InsecureSkipVerify: os.Getenv("ECHO_NO_VERIFY") == "1",
		Logger:             log,
	})
	if err != nil {
		log.Error("echoservice", "err", err)
		os.Exit(1)
	}
	svc.Handle("echo", func(_ context.Context, req *servicekit.Request) (any, error) {
		return map[string]any{"value": req.Args["value"]}, nil
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := svc.Run(ctx, addr); err != nil {
		log.Error("echoservice", "err", err)
		os.Exit(1)
	}
}
