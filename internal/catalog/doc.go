// Package catalog turns the OpenAPI description a micro-service registers with into the
// service description the hub works with.
//
// A service registers with a Swagger 2.0 or OpenAPI 3.x document. Parse validates the
// service name and the document and reads the operations, parameters and request bodies a
// script's call Alias.operationId{...} maps onto, together with the x-exosite-* extensions.
//
// A Swagger 2.0 document is read as Swagger 2.0, accepting what Murano's validator accepts:
// Murano's short extension names (x-init, x-healthPath, x-configParameters, x-userField, …,
// the table in aliases.go) are renamed to the x-exosite-* ones where Murano reads them; the
// document is validated against the official Swagger 2.0 JSON schema (schema/) widened to
// Murano's additions (draft-4 type lists, its security types signature, clientCA and bearer,
// …); every $ref must be local and resolve; errors name the place in the document as written
// ("#/definitions/Account/properties/id: …"). Only then is it converted to OpenAPI 3 for
// internal use, without OpenAPI 3.0's own rules: type lists, arrays without items and
// examples that do not match stay as written, and a parameter a path template names but the
// operation does not declare becomes a required string path parameter. An OpenAPI 3.x
// document is validated by OpenAPI 3 rules.
//
// The extensions read:
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
//   - x-events (document): the events the service may trigger, a map by name or a list;
//   - x-exosite-token (document): a secret of the service, never shown (PublicDoc drops it).
//
// Every failure of Parse and Registration.Document is a *ValidationError naming the field of
// the registration request at fault.
package catalog
