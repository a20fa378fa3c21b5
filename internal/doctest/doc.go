// Package doctest runs the code examples of README.md, docs/*.md and docs/*/*.md against a real switchboard,
// so that the documentation cannot drift from the code. The package has tests only.
//
// Each Markdown file gets its own server (built from cmd/switchboard, started on a free port
// with its data in a fresh working directory) and one bash session that runs the file's
// blocks in document order, as a reader typing them into one terminal would:
//
//   - ```sh blocks run with `set -euo pipefail`; a comment line right after a command is the
//     output that command must print (each such line must appear in it, in order; `…` stands
//     for any text and a timestamp such as 2026-01-02T03:04:05Z for any timestamp).
//   - ```console blocks are transcripts: each `$ ` line is run and the lines below it up to the
//     next `$ ` must appear in its output; a command shown without output must succeed.
//   - ```lua blocks are compiled as a deployed script would be.
//   - ```text and ```http blocks are not code (output, formats, wire examples) and are not run.
//
// The text 127.0.0.1:8080 in a block is replaced by the test server's address before it runs,
// SWITCHBOARD_SERVER points at it, `switchboard` is on PATH, and `go build -o switchboard
// ./cmd/switchboard` copies the binary the test built. Any other block needs one of the first
// two markers below, an HTML comment on the lines just before its fence; the third marks a sh
// or console block that needs what a machine may lack:
//
//	<!-- doctest: skip (why it cannot run here) -->
//	<!-- doctest: example demoexternalservice (why) -->
//	<!-- doctest: needs SWITCHBOARD_TEST_MQTT_URL mosquitto_pub -->
//
// The second does not run the block either; instead the test starts the Go program
// examples/<name> against the file's server before the file's blocks run and waits until it
// has registered.
//
// In the third, each upper-case word is an environment variable that must be set (not
// empty), each other word a program that must be on PATH; a "(reason)" may follow. Where one is
// missing, neither that block nor any later sh or console block of its file runs, as they
// build on it, and the test logs which need was missing. Broker examples use it with the
// broker's SWITCHBOARD_TEST_*_URL: they are written against the broker at its usual local
// address (127.0.0.1:1883 and so on, as .ci/run starts them), and the variable says that broker
// is there; the session itself sees no SWITCHBOARD_* variable.
package doctest
