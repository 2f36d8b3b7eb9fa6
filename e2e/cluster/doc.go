// Package cluster holds the end-to-end test of fleetmend on a Temporal
// cluster like a production one: the server from go.temporal.io/server as
// separate processes on loopback (one frontend, one matching, two history
// hosts, one worker service, found by each other through ringpop) on
// PostgreSQL persistence and SQL visibility, set up and configured from
// internal/temporalcfg (the compose stack's settings). Two fleetmend worker
// binaries remediate a 2,000-instance simulated region while a history host
// is SIGKILLed and restarted and PostgreSQL itself is restarted; the run is
// judged on the simulator's truth, and the real starter binary must list it
// and show its status.
//
// The test needs PostgreSQL's server binaries (see internal/pgtest): without
// them it is skipped with one line, unless FLEETMEND_REQUIRE_POSTGRES=1.
// The server processes are this directory's internal/temporalsvc.
package cluster
