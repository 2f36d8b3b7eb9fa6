// Package deploy holds the end-to-end tests of how fleetmend is operated
// rather than how it fails: a rolling deploy of the worker (SIGTERM) in
// the middle of a run, a reboot call held past the heartbeat timeout, an
// agent that recovers or an instance tagged after the scan, agent status
// polls that fail for good, DescribeInstances answering empty (a missing
// permission), and a large dry run under 5xx. Judged on the simulator's
// truth.
package deploy
