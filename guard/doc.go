// Package guard is the region lock as one concept: the RegionGuard
// workflow (one per region, ID fleetmend/<region>/guard) that grants a
// region to one acting run at a time, learns which batches that run may
// have open, hands a closed holder's unverified reboots to the next one,
// recovers its own state when it is started anew, and keeps the ledger of
// failed repairs that quarantines chronic instances; the activities that
// talk to it (acquire with the takeover of a closed holder, fence, confirm,
// release, record, read the ledger, read back a closed run's reboots,
// recover, find the previous run); the client the CLI uses; and every name
// fleetmend's workflows are known by (names.go).
//
// It imports the Temporal SDK and, of fleetmend, only ecs: the workflows
// package calls it, the starter's commands use its Client, and the worker
// registers its workflow and activities. Its protocol and the state
// machine it implements are drawn in docs/design.md.
package guard
