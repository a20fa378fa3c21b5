// Package dynamic calls the operations of dynamic services: a script's
// Alias.operationId{...} becomes one HTTP request to the registered micro-service.
//
// The Invoker maps the call's arguments onto the operation described by the catalog:
// arguments named like a path, query, header or cookie parameter fill that parameter, and the
// remaining arguments form the JSON body (the object of them for an expanded object body, else
// the argument named after the body). Missing arguments take the solution's configuration
// parameter of the same name, then the schema's default. A parameter marked x-exosite-from
// always gets the calling solution's value (solution_id and business_id: its id; domain:
// {solution}.{Options.AppsDomain}, else {solution}.localhost); a restricted one ignores the
// script's argument and takes the configured value, else its default; a path parameter named
// like a configuration parameter the solution set takes the configured value over the
// script's. Configuration parameters that are restricted or have a source are the hub's:
// their source's value, else their default, whatever is stored. An argument the operation
// does not take is refused, except with an expanded body, whose schema decides. Every value is
// validated against its schema before anything is sent.
//
// Lifecycle calls (CallLifecycle: x-exosite-init, -update, -gc, -info) have no script
// arguments: the solution's parameters fill what the operation declares and nothing else is
// sent. Their refusals before sending match ErrNotCalled and say the service was not called.
//
// Each request carries the calling solution (X-Switchboard-Solution), the request id
// (X-Request-Id), a W3C traceparent and a signature a service checks with Verify; see Sign for
// the scheme. A circuit breaker per service fails calls fast while a service keeps failing.
//
// Every failure of Invoker.Call is a *service.Error whose status says what went wrong: 400 bad
// or missing argument, 403 restricted operation, 404 unknown operation, 502 service
// unreachable or answering garbage, 503 circuit open, 504 timeout, or the service's own 4xx or
// 5xx status with its message.
package dynamic
