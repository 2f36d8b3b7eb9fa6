// Package faults holds the end-to-end test of a run under a mix of ECS
// faults (5xx, throttling, dropped connections, latency) on 5,000
// instances, judged against a clean run of the same fleet on the
// simulator's truth. It is a package of its own so that its minutes do not
// add to another package's under go test's default timeout.
package faults
