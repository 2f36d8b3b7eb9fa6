// Package fence holds the end-to-end tests of batch fencing and numbering:
// a run terminated while a batch the guard was not told of would be open
// (a canary that is not a multiple of the batch size, a blast radius of
// more batches than one fence used to register), with the next run
// started at once; and a run reset two rounds back, whose batch numbers
// must never be used twice. Judged on the simulator's truth and on
// Temporal's own record of the batches.
package fence
