// Package murano holds Switchboard's Murano compatibility suite: Swagger 2.0 documents written
// the way Murano's documentation and validator describe them (testdata/), registered with a
// real hub against stand-in services that record every request, and checked for what reaches
// them: method, path, query, headers, body and the order of the lifecycle hooks. The package
// has no code of its own; everything is in its tests.
package murano
