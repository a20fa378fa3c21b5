// Package catalog turns the OpenAPI description a micro-service registers with into the
// service description the hub works with.
//
// A service registers with a Swagger 2.0 or OpenAPI 3.x document. Parse validates the
// service name and the document, converts Swagger 2.0 to OpenAPI 3 and reads the
// operations, parameters and request bodies a script's call Alias.operationId{...} maps onto,
// together with the x-exosite-* extensions:
//
//   - x-exosite-init, x-exosite-update, x-exosite-gc, x-exosite-info (document): the
//     operationIds called when a solution adds, reconfigures or removes the service, and to show
//     the service's information about a solution;
//   - x-exosite-health-path (document): the path probed for health, else the base path;
//   - x-exosite-config-parameters (document): the per-solution configuration form, a list of
//     parameters or an object of them by name; format: password marks a secret; title, enum,
//     x-exosite-hidden, x-exosite-restricted and x-exosite-from as on parameters (the hub, not
//     the user, sets a restricted one or one with a source);
//   - x-exosite-timeout (document or operation): milliseconds or a Go duration, 1ms to 5m;
//   - x-exosite-restricted: true (operation): not callable from scripts; (parameter): not
//     settable by scripts, the configured value or the default is sent instead;
//   - x-exosite-hidden: true (operation, parameter): left out of documentation;
//   - x-exosite-internal-use: true (operation, parameter): restricted and hidden;
//   - x-exosite-from (parameter): solution_id, domain or business_id, filled in by the hub from
//     the calling solution, whatever the script passes (anything else is refused);
//   - x-events (document): the events the service may trigger, a map by name or a list.
//
// Every failure of Parse and Registration.Document is a *ValidationError naming the field of
// the registration request at fault.
package catalog
