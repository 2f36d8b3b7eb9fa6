// Package lock holds the end-to-end tests of the region lock through every
// way a run or its guard can end: a run terminated, continued as new, or
// reset while its batches are between install and reboot; the guard
// terminated or cancelled mid-run, and continuing as new with its ledger;
// idempotent ledger updates. Judged on the simulator's truth.
package lock
