// Package observe holds the end-to-end tests of what an operator sees and
// feeds in: Prometheus metrics against the simulator's truth, workers
// splitting regions, hostile input refused with zero ECS calls, and
// secrets that never appear in histories, logs, reports or metrics.
package observe
