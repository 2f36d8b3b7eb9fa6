package notify_test

import (
	"time"

	"github.com/fleetmend/fleetmend/notify"
)

const (
	wf    = "fleetmend/cn-hangzhou/manual-20261122T101500Z"
	runID = "0b6f3c1e-8d2a-4c53-9e1b-3f2a7d9c4e10"
)

var (
	at = time.Date(2026, 11, 22, 10, 45, 0, 0, time.UTC)
	ui = notify.Link{Label: "Web UI", URL: "http://temporal-ui.internal:8080/namespaces/default/workflows/fleetmend%2Fcn-hangzhou%2Fmanual-20261122T101500Z/" + runID + "/history"}
)

// events is one realistic event of each kind.
func events() []notify.Event {
	failures := func(n int) []notify.Failure {
		var fs []notify.Failure
		for i := 0; i < n; i++ {
			fs = append(fs, notify.Failure{InstanceID: "i-bp1f00" + string(rune('a'+i)), Reason: "no-heartbeat", Detail: "no heartbeat within 10m of the reboot"})
		}
		return fs
	}
	return []notify.Event{
		{
			Kind: notify.ApprovalWaiting, At: at, Region: "cn-hangzhou", WorkflowID: wf, RunID: runID,
			Reason: "canary passed: 19 of 20 repaired instances healthy (95% ≥ 80%); waiting for approval",
			Counts: []notify.Count{{"canary", 20}, {"healthy", 19}, {"failed", 1}, {"waiting", 412}},
			Commands: []string{
				`starter resume ` + wf + ` --reason "canary looks good"`,
				`starter abort ` + wf + ` --reason "canary not good enough"`,
			},
			Links: []notify.Link{ui},
		},
		{
			Kind: notify.RunStopped, At: at, Region: "cn-hangzhou", WorkflowID: wf, RunID: runID, Code: "error-budget",
			Reason:   "stopped: error budget exhausted (12 failed of 100 attempted; budget 10% = 10)",
			Counts:   []notify.Count{{"unhealthy", 120}, {"remediated", 88}, {"failed", 12}, {"not-attempted", 20}},
			Failures: failures(7),
			Links:    []notify.Link{ui},
		},
		{
			Kind: notify.RunCompletedWithFailures, At: at, Region: "cn-shanghai", WorkflowID: "fleetmend/cn-shanghai/scheduled-20261122T010000Z", RunID: runID,
			Reason:   "completed: 3 failed, 2 quarantined of 57 unhealthy",
			Counts:   []notify.Count{{"unhealthy", 57}, {"remediated", 52}, {"failed", 3}, {"quarantined", 2}},
			Failures: failures(3),
			Links:    []notify.Link{ui},
		},
		{
			Kind: notify.HolderStuck, At: at, Region: "cn-hangzhou", WorkflowID: wf, RunID: runID,
			Reason:   "holds cn-hangzhou since 2026-11-22 01:00 UTC with no progress for 2h (stuck after 1h)",
			Commands: []string{`starter unlock --region cn-hangzhou --reason "holder stuck"`},
			Links:    []notify.Link{ui},
		},
		{
			Kind: notify.FreezeSet, At: at, Region: "cn-hangzhou", Actor: "alice",
			Until:    time.Date(2026, 11, 24, 1, 0, 0, 0, time.UTC),
			Reason:   "release freeze: payment gateway migration (CHG-2291)",
			Commands: []string{`starter unfreeze --region cn-hangzhou --reason "…"`},
		},
		{
			Kind: notify.FreezeLifted, At: at, Region: "cn-hangzhou", Actor: "bob",
			Reason: "migration done (CHG-2291)",
		},
	}
}
