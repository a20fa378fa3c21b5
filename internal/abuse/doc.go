// Package abuse replays, against the real switchboard binary, the attacks a security review
// made on the hub: memory floods, runaway and hostile scripts, service takeover, the hub as a
// proxy into its own network, solutions scripting each other on a shared origin, and leaks
// between tenants. It also kills the server with SIGKILL while events are published, and
// checks that no event it acknowledged is lost. Each test starts its own server process (built once, without the race
// detector, so what it measures is what users run) and checks what the process holds (VmHWM),
// how long answers take, how much CPU it burns after clients leave, and that another solution
// keeps answering. The package has tests only.
package abuse
