// Package plan holds the end-to-end tests of pinned plans: `starter apply`
// acts on exactly a dry run's planned instances, and refuses, touching
// nothing, a plan that drifted or is too old; judged on the simulator's
// truth, with the real starter binary, the embedded Temporal server and
// the worker.
package plan
