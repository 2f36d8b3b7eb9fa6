// Package chaos holds the end-to-end chaos tests: the real worker binary
// killed 20 times in one run, the Temporal server restarted mid-run with
// two workers of which one is killed, and a run under a mix of ECS faults.
// Each is judged on the simulator's truth.
package chaos
