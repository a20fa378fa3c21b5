// Package servicekit is the Go SDK for Switchboard dynamic services: micro-services that
// register themselves with a Switchboard hub, are called by solutions' Lua scripts, and call
// back into the hub.
//
// A service is described by an OpenAPI document (Swagger 2.0 or OpenAPI 3, YAML or JSON). The
// document's operations are what scripts call as Alias.operationId{...}; the hub reaches the
// service at the document's host and base path. A [Service] built from that document:
//
//   - routes the hub's calls to the functions given to [Service.Handle], by the method and
//     path template of each operation ("/things/{id}"), merging the JSON body, the query and the
//     path parameters into [Request.Args];
//   - checks that each call really comes from the hub: the hub signs every call with the token
//     it gave the service at registration (see [Sign] and [Service.VerifyRequest]);
//   - answers the document's health path (x-exosite-health-path, else the base path), which the
//     hub probes before accepting a registration;
//   - registers with the hub, retrying with backoff until the hub answers ([Service.Register]),
//     presenting the token of its earlier registration ([Config.TokenFile]), without which the
//     hub refuses to update a registered name;
//   - calls the platform services of a solution ([Service.Call]) and triggers its own events
//     ([Service.Trigger]).
//
// The usual program is:
//
//	svc, err := servicekit.New(servicekit.Config{
//		Name:              "demoexternalservice",
//		HubURL:            "http://switchboard:8080",
//		RegistrationToken: os.Getenv("SWITCHBOARD_REGISTRATION_TOKEN"),
//		TokenFile:         "/var/lib/demoexternalservice/token", // keeps the service token across restarts
//		Document:          swaggerYAML,
//	})
//	if err != nil { ... }
//	svc.Handle("callService", func(ctx context.Context, req *servicekit.Request) (any, error) {
//		return svc.Call(ctx, req.Solution, "keystore", "get", map[string]any{"key": req.Args["key"]})
//	})
//	err = svc.Run(ctx, ":8091") // listen, register, serve until ctx is done
//
// The wire protocol the package implements is described in docs/service-protocol.md of the
// Switchboard repository, for services written in any language.
package servicekit
