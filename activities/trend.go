package activities

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
)

// MaxTrendChecks bounds the instances TrendCheck reads.
const MaxTrendChecks = 1000

// AttemptCounter answers how many failed repairs a region's ledger holds
// within a window for each of ids (those with none are left out). The
// ledger is the region guard's; the worker injects the guard's client.
type AttemptCounter interface {
	CountAttempts(ctx context.Context, region string, window time.Duration, ids []string) (map[string]int, error)
}

// TrendCheckInput names the instances whose state now is wanted (Check,
// at most MaxTrendChecks) and those whose failed attempts within Window
// the region's ledger is asked for (Attempts; the checked ones found
// still failing are asked for too).
type TrendCheckInput struct {
	Region    string        `json:"region"`
	TaskQueue string        `json:"task_queue"`
	Check     []string      `json:"check,omitempty"`
	Attempts  []string      `json:"attempts,omitempty"`
	Window    time.Duration `json:"window"`
}

// InstanceNow is one checked instance as ECS describes it now.
type InstanceNow struct {
	ID      string `json:"i"`
	Exists  bool   `json:"e,omitempty"`
	Running bool   `json:"r,omitempty"`
	Healthy bool   `json:"h,omitempty"`
	// Unknown: ECS's agent status answer left it out.
	Unknown bool `json:"u,omitempty"`
}

// Failing says whether the instance is Running with an agent known unhealthy.
func (n InstanceNow) Failing() bool { return n.Exists && n.Running && !n.Unknown && !n.Healthy }

// AttemptCount is how many failed repairs the ledger holds for an instance.
type AttemptCount struct {
	ID       string `json:"i"`
	Attempts int    `json:"n"`
}

// TrendCheckResult answers TrendCheckInput: Now in Check's order,
// Attempts sorted by ID (instances without a record are left out).
type TrendCheckResult struct {
	Now      []InstanceNow  `json:"now,omitempty"`
	Attempts []AttemptCount `json:"attempts,omitempty"`
}

// TrendCheck reads the checked instances' state now and the ledger's
// failed attempts of the instances still failing.
func (a *Activities) TrendCheck(ctx context.Context, in TrendCheckInput) (TrendCheckResult, error) {
	if len(in.Check) > MaxTrendChecks {
		return TrendCheckResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("TrendCheck: %d instances to check, allowed at most %d", len(in.Check), MaxTrendChecks), "fleetmend.InvalidInput", nil)
	}
	var res TrendCheckResult
	want := map[string]bool{}
	for _, id := range in.Attempts {
		want[id] = true
	}
	if len(in.Check) > 0 {
		c, err := a.client(in.Region)
		if err != nil {
			return TrendCheckResult{}, err
		}
		fs, err := facts(ctx, c, in.Check, "", plainBeat(ctx))
		if err != nil {
			return TrendCheckResult{}, err
		}
		for _, f := range fs {
			n := InstanceNow{ID: f.InstanceID, Exists: f.Exists, Running: f.Running(), Healthy: f.Healthy, Unknown: f.Unknown}
			res.Now = append(res.Now, n)
			if n.Failing() {
				want[n.ID] = true
			}
		}
	}
	if len(want) == 0 {
		return res, nil
	}
	if a.Attempts == nil {
		return TrendCheckResult{}, temporal.NewNonRetryableApplicationError("activities have no ledger reader configured (needed for the trend)", "fleetmend.Misconfigured", nil)
	}
	ids := slices.Sorted(maps.Keys(want))
	counts, err := a.Attempts.CountAttempts(ctx, in.Region, in.Window, ids)
	if err != nil {
		return TrendCheckResult{}, temporal.NewApplicationError(fmt.Sprintf("read the ledger of %s: %v", in.Region, err), "fleetmend.GuardUnavailable")
	}
	for _, id := range slices.Sorted(maps.Keys(counts)) { // by instance ID, as the ledger keeps them
		if want[id] {
			res.Attempts = append(res.Attempts, AttemptCount{ID: id, Attempts: counts[id]})
		}
	}
	return res, nil
}
