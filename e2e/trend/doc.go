// Package trend holds the end-to-end tests of what a report says changed
// since the region's previous run (new, fixed, chronic, gone, and the
// chronic gauge on /metrics) and of the agent version distribution, both
// judged on the simulator's truth.
package trend
