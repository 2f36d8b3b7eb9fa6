package ecssim

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Faults are injected failures. They can be changed at any time (SetFaults,
// PUT /_sim/faults); the zero value injects nothing.
type Faults struct {
	// ThrottleRPS is the sustained request rate (per real second) above which
	// requests are answered 400 Throttling.User. 0 disables throttling.
	ThrottleRPS float64
	// ThrottleBurst is the token bucket size. Default: max(1, ceil(ThrottleRPS)).
	ThrottleBurst int
	// ErrorRate is the fraction of requests answered with a 5xx,
	// alternately 503 ServiceUnavailable and 500 InternalError.Dispatch
	// (503 first), or with ErrorCode when it is set.
	ErrorRate float64
	// ErrorCode, when set, is the error the requests ErrorRate selects are
	// answered with, with the HTTP status and message real ECS sends with it
	// (one of InjectableErrorCodes). With Actions it refuses one action the
	// way a real account would, e.g. {ErrorRate: 1, ErrorCode:
	// "Forbidden.RAM", Actions: ["RebootInstances"]} is a RAM user without
	// ecs:RebootInstances.
	ErrorCode string
	// Latency is added to every affected request before it is answered.
	Latency time.Duration
	// DropRate is the fraction of requests whose connection is closed
	// without any response.
	DropRate float64
	// OmitRate is the probability with which each instance named in a by-ID
	// request (DescribeCloudAssistantStatus or DescribeInstanceStatus with
	// InstanceId.N, DescribeInstances with InstanceIds) is left out of an
	// otherwise normal answer: no error, the instance is just missing, as
	// when ECS does not answer for an instance it knows.
	OmitRate float64
	// OmitIDs are always left out of such answers.
	OmitIDs []string
	// Actions restricts the faults to these actions; empty means all.
	Actions []string
	// Seed, when non-zero, reseeds the fault randomness when the faults are
	// set, so a test can replay the exact same sequence of failures.
	Seed int64
}

// faultsJSON is the wire form of Faults: durations as Go duration strings
// ("250ms") so an operator can curl them.
type faultsJSON struct {
	ThrottleRPS   float64  `json:"throttle_rps"`
	ThrottleBurst int      `json:"throttle_burst"`
	ErrorRate     float64  `json:"error_rate"`
	ErrorCode     string   `json:"error_code,omitempty"`
	Latency       string   `json:"latency"`
	DropRate      float64  `json:"drop_rate"`
	OmitRate      float64  `json:"omit_rate,omitempty"`
	OmitIDs       []string `json:"omit_ids,omitempty"`
	Actions       []string `json:"actions"`
	Seed          int64    `json:"seed,omitempty"`
}

// MarshalJSON writes Latency as a duration string.
func (f Faults) MarshalJSON() ([]byte, error) {
	actions := f.Actions
	if actions == nil {
		actions = []string{}
	}
	return json.Marshal(faultsJSON{
		ThrottleRPS: f.ThrottleRPS, ThrottleBurst: f.ThrottleBurst, ErrorRate: f.ErrorRate, ErrorCode: f.ErrorCode,
		Latency: f.Latency.String(), DropRate: f.DropRate, OmitRate: f.OmitRate, OmitIDs: f.OmitIDs,
		Actions: actions, Seed: f.Seed,
	})
}

// UnmarshalJSON reads Latency as a duration string ("250ms") or a number of
// nanoseconds.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var raw struct {
		faultsJSON
		Latency json.RawMessage `json:"latency"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("ecssim: faults: %w", err)
	}
	var latency time.Duration
	if len(raw.Latency) > 0 && string(raw.Latency) != "null" {
		var s string
		if err := json.Unmarshal(raw.Latency, &s); err == nil {
			if s != "" {
				d, err := time.ParseDuration(s)
				if err != nil {
					return fmt.Errorf("ecssim: faults: latency: %w", err)
				}
				latency = d
			}
		} else {
			var ns int64
			if err := json.Unmarshal(raw.Latency, &ns); err != nil {
				return fmt.Errorf("ecssim: faults: latency must be a duration string like \"250ms\": %w", err)
			}
			latency = time.Duration(ns)
		}
	}
	*f = Faults{
		ThrottleRPS: raw.ThrottleRPS, ThrottleBurst: raw.ThrottleBurst, ErrorRate: raw.ErrorRate, ErrorCode: raw.ErrorCode,
		Latency: latency, DropRate: raw.DropRate, OmitRate: raw.OmitRate, OmitIDs: raw.OmitIDs,
		Actions: raw.Actions, Seed: raw.Seed,
	}
	return nil
}

func (f Faults) validate() error {
	if !(f.ThrottleRPS >= 0) || math.IsInf(f.ThrottleRPS, 0) {
		return fmt.Errorf("faults: ThrottleRPS must be >= 0, got %v", f.ThrottleRPS)
	}
	if f.ThrottleBurst < 0 {
		return fmt.Errorf("faults: ThrottleBurst must be >= 0, got %d", f.ThrottleBurst)
	}
	if !(f.ErrorRate >= 0 && f.ErrorRate <= 1) {
		return fmt.Errorf("faults: ErrorRate must be in [0,1], got %v", f.ErrorRate)
	}
	if f.ErrorCode != "" && !isInjectableCode(f.ErrorCode) {
		return fmt.Errorf("faults: ErrorCode %q is not one the simulator can inject; valid: %s",
			f.ErrorCode, strings.Join(InjectableErrorCodes(), ", "))
	}
	if !(f.DropRate >= 0 && f.DropRate <= 1) {
		return fmt.Errorf("faults: DropRate must be in [0,1], got %v", f.DropRate)
	}
	if !(f.OmitRate >= 0 && f.OmitRate <= 1) {
		return fmt.Errorf("faults: OmitRate must be in [0,1], got %v", f.OmitRate)
	}
	for i, id := range f.OmitIDs {
		if id == "" {
			return fmt.Errorf("faults: OmitIDs[%d] is empty", i)
		}
	}
	if f.Latency < 0 {
		return fmt.Errorf("faults: Latency must be >= 0, got %v", f.Latency)
	}
	for _, a := range f.Actions {
		if !isAction(a) {
			return fmt.Errorf("faults: Actions names %q, which the simulator does not implement", a)
		}
	}
	return nil
}

// faultState is the live fault configuration plus its token bucket and
// random source. It is guarded by the simulator's mutex.
type faultState struct {
	cfg     Faults
	rng     *rand.Rand
	tokens  float64
	burst   float64
	refills time.Time // wall time of the last refill
	// serverErrors counts injected 5xx answers since the faults were set.
	serverErrors int
	omitIDs      map[string]bool // cfg.OmitIDs as a set
}

func newFaultState(f Faults, seed int64, now time.Time) *faultState {
	fs := &faultState{rng: rand.New(rand.NewPCG(uint64(seed), 0x5eed_fa17))}
	fs.set(f, now)
	return fs
}

// set replaces the configuration and refills the bucket: a new rate starts
// with a full burst, which is what a test setting a limit expects.
func (fs *faultState) set(f Faults, now time.Time) {
	f.Actions = slices.Clone(f.Actions)
	f.OmitIDs = slices.Clone(f.OmitIDs)
	fs.omitIDs = make(map[string]bool, len(f.OmitIDs))
	for _, id := range f.OmitIDs {
		fs.omitIDs[id] = true
	}
	fs.cfg = f
	fs.burst = float64(f.ThrottleBurst)
	if fs.burst == 0 {
		fs.burst = math.Max(1, math.Ceil(f.ThrottleRPS))
	}
	fs.tokens = fs.burst
	fs.refills = now
	fs.serverErrors = 0
	if f.Seed != 0 {
		fs.rng = rand.New(rand.NewPCG(uint64(f.Seed), 0x5eed_fa17))
	}
}

// faultDecision is what happens to one request.
type faultDecision struct {
	drop    bool
	latency time.Duration
	err     *apiError
	// code is an injected ErrorCode; the caller builds its error, which
	// may depend on the request (SignatureDoesNotMatch).
	code string
}

// decide draws the fate of one request for action. Drops are drawn first so
// a dropped request consumes no throttling token (it never reached the API).
func (fs *faultState) decide(action string, now time.Time) faultDecision {
	c := &fs.cfg
	if len(c.Actions) > 0 && !slices.Contains(c.Actions, action) {
		return faultDecision{}
	}
	d := faultDecision{latency: c.Latency}
	if c.DropRate > 0 && fs.rng.Float64() < c.DropRate {
		d.drop = true
		return d
	}
	if c.ThrottleRPS > 0 {
		if elapsed := now.Sub(fs.refills); elapsed > 0 {
			fs.tokens = math.Min(fs.burst, fs.tokens+elapsed.Seconds()*c.ThrottleRPS)
			fs.refills = now
		}
		if fs.tokens < 1 {
			d.err = errThrottled()
			return d
		}
		fs.tokens--
	}
	if c.ErrorRate > 0 && fs.rng.Float64() < c.ErrorRate {
		if c.ErrorCode != "" {
			d.code = c.ErrorCode
			return d
		}
		// Alternate rather than draw, so both codes show up in any run of
		// two or more server errors and a test can predict which comes next.
		fs.serverErrors++
		if fs.serverErrors%2 == 1 {
			d.err = errServiceUnavailable()
		} else {
			d.err = errInternalDispatch()
		}
	}
	return d
}

// omitsByID says whether the omit fault can apply to a request of action:
// the by-ID forms of the three describe calls (the caller passes the named
// IDs, none for a listing).
func omitsByID(action string) bool {
	switch action {
	case ActionDescribeCloudAssistantStatus, ActionDescribeInstanceStatus, ActionDescribeInstances:
		return true
	}
	return false
}

// omitted draws which of the instances a by-ID request names its answer
// leaves out: OmitIDs always, the others each with OmitRate. Draws follow
// the order of ids, so a seeded run replays the same omissions.
func (fs *faultState) omitted(action string, ids []string) map[string]bool {
	c := &fs.cfg
	if len(ids) == 0 || !omitsByID(action) || (c.OmitRate == 0 && len(fs.omitIDs) == 0) {
		return nil
	}
	if len(c.Actions) > 0 && !slices.Contains(c.Actions, action) {
		return nil
	}
	var out map[string]bool
	for _, id := range ids {
		if fs.omitIDs[id] || (c.OmitRate > 0 && fs.rng.Float64() < c.OmitRate) {
			if out == nil {
				out = make(map[string]bool)
			}
			out[id] = true
		}
	}
	return out
}
