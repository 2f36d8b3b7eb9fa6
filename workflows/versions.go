package workflows

// The engine's history: every version marker (workflow.GetVersion) the
// workflows of this package record, what it changed, since which commit,
// and which recorded histories replay each of its branches. A change that
// alters the commands a workflow sends gets a marker here; the replay test
// (replay_test.go) replays every history under testdata/ on every change.
//
//	marker                  ver  since                 what it changed                                   old branch replayed by   new branch replayed by
//	pipelined-engine        2    35b894c (2026-11-22)  the pipelined engine; the previous one is         testdata/v1/*            testdata/v2..v5
//	                                                   legacy.go
//	fenced-lock             1    24d757a (2026-12-01)  engine 3: fenced lock, takeovers that verify a    testdata/v2/region-*     testdata/v3..v5
//	                                                   closed holder's reboots, rollout, bounded state
//	ramp-first-beat         1    f695d84 (2026-12-02)  ramp steps widen on first heartbeats              testdata/v3/region-*     testdata/v4, v5
//	run-trend               1    d35304a (2026-12-02)  what changed since the previous run               testdata/v3/region-*     testdata/v4, v5
//	zone-in-region          1    e123a6c (2026-12-02)  a zone of another region is refused (asked only   every history (not       TestRegionRejectsInvalid-
//	                                                   for such a zone)                                  asked)                   InputNamingTheField
//	pinned-plan             1    d7e6eb5 (2026-12-02)  a run applies a dry run's plan (asked only with   every history (not       testdata/v5/region-apply
//	                                                   a plan)                                           asked)
//	fence-each-batch        1    1aca7f1 (2026-12-06)  engine 4: no batch unfenced, batch IDs never      testdata/v4/region-*     testdata/v5/region-*
//	                                                   reused, verified releases, judged gates, applies
//	                                                   short-circuit, the API's faults kept apart
//	fleet-override-regions  1    1aca7f1 (2026-12-06)        a fleet override names its regions (asked only    every history (not       TestFleetInputIsValidated
//	                                                   with an override)                                 asked)
//
// The region guard's own marker, guard-recovery (24d757a: a guard started
// anew recovers its predecessor's state), is in the guard package: its old
// branch is replayed by testdata/v2/guard.json, its new by v3..v5.
//
// When may an old branch go (and legacy.go, the old branch of
// pipelined-engine)? When no workflow that took it can still be open or
// be replayed by a worker: (1) every worker of every deployment has run a
// release with the marker for longer than the namespace's retention, (2)
// the upgrade gate's query (docs/observability.md) finds no open
// RemediateRegion, RemediateBatch or RegionGuard started before that
// release, and (3) the branch's histories move out of testdata/. This
// repository cannot see its users' clusters, and the oldest marker is two
// weeks old, younger than the default retention of a namespace this
// project's docs create (30 days): so nothing goes now, and legacy.go stays.
const (
	engineChange         = "pipelined-engine"
	fencedLock           = "fenced-lock"
	rampOnFirstBeat      = "ramp-first-beat"
	trendChange          = "run-trend"
	zoneInRegion         = "zone-in-region"
	pinnedPlan           = "pinned-plan"
	fenceEachBatch       = "fence-each-batch"
	fleetOverrideRegions = "fleet-override-regions"
)

// The engines a run's state names (RunState.Engine) and a batch's input
// (BatchInput.Engine): 2 the pipelined engine (pipelined-engine), 3 the
// fenced lock (fenced-lock), 4 fencing every batch (fence-each-batch).
// Batches without one (recorded before the pipeline) verify themselves.
const (
	engineV2 = 2
	engineV3 = 3
	engineV4 = 4
)
