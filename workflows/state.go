package workflows

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/activities"
)

// What a run carries at continue-as-new is its next input: the region
// input (instance and exclude lists included) and the RunState. Temporal
// warns above 512 KB and refuses 2 MB, so an engine 3 run keeps it under
// maxCarryBytes at any fleet size and blast radius:
//
//   - the queue holds at most MaxQueue candidates, about 24 bytes each;
//     more are reported deferred, for the next run;
//   - at most maxVerifying instances are verified at once (no new batch
//     starts while that many wait for their agent), about 95 bytes each;
//   - at most maxBatchesInFlight batches run at once, whatever the blast
//     radius (Temporal refuses more than 2,000 pending children);
//   - the ledger waiting to be written is written before continue-as-new
//     and whenever it holds maxPendingLedger entries;
//   - if the whole still does not fit, report rows go first (least
//     important first, counted as omitted), then the tail of the queue
//     (reported deferred).
//
// Verifying instances are never dropped: a reboot sent is always verified.
const (
	maxCarryBytes      = 420 << 10
	maxVerifying       = 1500
	maxBatchesInFlight = 200
	maxPendingLedger   = 500
	maxHadRecords      = 2000
	maxControlEvents   = 50
)

// Queue is a run's candidates, in scan order. Its JSON is one string,
// "id:p,id:p,…" (p: m for agent missing, s for silent), a fraction of the
// objects' size; the object form of runs recorded before is still read.
type Queue []activities.Candidate

// MarshalJSON implements json.Marshaler.
func (q Queue) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	for i, c := range q {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(c.ID)
		b.WriteByte(':')
		b.WriteString(problemCode(c.Problem))
	}
	return json.Marshal(b.String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (q *Queue) UnmarshalJSON(data []byte) error {
	var packed string
	if err := json.Unmarshal(data, &packed); err != nil {
		var objects []activities.Candidate
		if err := json.Unmarshal(data, &objects); err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		*q = objects
		return nil
	}
	*q = nil
	if packed == "" {
		return nil
	}
	for _, e := range strings.Split(packed, ",") {
		id, p, ok := strings.Cut(e, ":")
		if !ok {
			return fmt.Errorf("queue entry %q is not id:problem", e)
		}
		*q = append(*q, activities.Candidate{ID: id, Problem: problemName(p)})
	}
	return nil
}

func problemCode(p string) string {
	switch p {
	case ProblemAgentMissing:
		return "m"
	case ProblemAgentSilent:
		return "s"
	}
	return p
}

func problemName(code string) string {
	switch code {
	case "m":
		return ProblemAgentMissing
	case "s":
		return ProblemAgentSilent
	}
	return code
}

// Flags of a Verifying entry in its compact form.
const (
	vRebooted = 1 << iota
	vInTransit
	vUnconfirmed
	vReleased
	vSeenDown
	vEarly
	vRelapsed
)

// MarshalJSON writes a Verifying as an array: [id, problem, action,
// since, deadline, batch, flags, from, released, healthy, beat], the times
// in Unix ms (0 for none), the trailing empty ones left out.
func (v Verifying) MarshalJSON() ([]byte, error) {
	flags := 0
	for _, f := range []struct {
		bit int
		on  bool
	}{{vRebooted, v.Rebooted}, {vInTransit, v.InTransit}, {vUnconfirmed, v.Unconfirmed}, {vReleased, v.Released}, {vSeenDown, v.SeenDown}, {vEarly, v.Early}, {vRelapsed, v.Relapsed}} {
		if f.on {
			flags |= f.bit
		}
	}
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	a := []any{v.ID, problemCode(v.Problem), v.Action, v.Since.UnixMilli(), v.Deadline.UnixMilli(), v.Batch, flags,
		v.From, ms(v.ReleasedAt), ms(v.HealthyAt), ms(v.Beat)}
	for len(a) > 7 && (a[len(a)-1] == int64(0) || a[len(a)-1] == "") {
		a = a[:len(a)-1]
	}
	return json.Marshal(a)
}

// UnmarshalJSON reads the array form, or the object form of runs recorded
// before it.
func (v *Verifying) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '{' {
		type object Verifying // without the methods
		var o object
		if err := json.Unmarshal(data, &o); err != nil {
			return fmt.Errorf("verifying: %w", err)
		}
		*v = Verifying(o)
		return nil
	}
	var a []json.RawMessage
	if err := json.Unmarshal(data, &a); err != nil || len(a) < 7 {
		return fmt.Errorf("verifying: %s is not [id, problem, action, since, deadline, batch, flags, from?]", shorten(string(data), 80))
	}
	var problem string
	var since, deadline int64
	var flags int
	for i, dst := range []any{&v.ID, &problem, &v.Action, &since, &deadline, &v.Batch, &flags} {
		if err := json.Unmarshal(a[i], dst); err != nil {
			return fmt.Errorf("verifying field %d: %w", i, err)
		}
	}
	if len(a) > 7 {
		if err := json.Unmarshal(a[7], &v.From); err != nil {
			return fmt.Errorf("verifying from: %w", err)
		}
	}
	for i, dst := range []*time.Time{&v.ReleasedAt, &v.HealthyAt, &v.Beat} {
		if len(a) <= 8+i {
			break
		}
		var t int64
		if err := json.Unmarshal(a[8+i], &t); err != nil {
			return fmt.Errorf("verifying field %d: %w", 8+i, err)
		}
		if t != 0 {
			*dst = time.UnixMilli(t).UTC()
		}
	}
	v.Problem = problemName(problem)
	v.Since, v.Deadline = time.UnixMilli(since).UTC(), time.UnixMilli(deadline).UTC()
	v.Rebooted, v.InTransit, v.Unconfirmed = flags&vRebooted != 0, flags&vInTransit != 0, flags&vUnconfirmed != 0
	v.Released, v.SeenDown, v.Early, v.Relapsed = flags&vReleased != 0, flags&vSeenDown != 0, flags&vEarly != 0, flags&vRelapsed != 0
	return nil
}

// fit makes the next run's input fit maxCarryBytes (engine 3): rows go
// first, then the tail of the queue. Its size is measured the way the data
// converter encodes it (encoding/json), so the bound is the payload's.
func (r *run) fit(ctx workflow.Context, next *RegionInput) {
	size := func() int {
		b, err := json.Marshal(next)
		if err != nil {
			return 0 // cannot be measured: the server's limit will say
		}
		return len(b)
	}
	rows, deferred := 0, 0
	for n := size(); n > maxCarryBytes; n = size() {
		if dropped := r.st.Rows.shrink(n - maxCarryBytes); dropped > 0 {
			rows += dropped
			continue
		}
		if len(r.st.Queue) == 0 {
			break // only what must be verified is left: it is carried
		}
		// Defer the tail of the queue (about 24 bytes a candidate). Their
		// rows would not fit either: they are counted, not listed.
		cut := min(len(r.st.Queue), (n-maxCarryBytes)/20+1)
		for _, c := range r.st.Queue[len(r.st.Queue)-cut:] {
			r.countOnly(Row{InstanceID: c.ID, Problem: c.Problem, Outcome: OutcomeNotAttempted, Reason: ReasonDeferred})
		}
		r.st.Queue = slices.Clone(r.st.Queue[:len(r.st.Queue)-cut])
		deferred += cut
	}
	if deferred > 0 {
		r.warnOnce("state-full", fmt.Sprintf("deferred %d queued instances (counted, not listed) to keep the run's carried state under %d KB; the next run repairs them", deferred, maxCarryBytes>>10))
	}
	if rows+deferred > 0 {
		workflow.GetLogger(ctx).Info("made the carried state fit", "RowsLeftOut", rows, "Deferred", deferred, "Bytes", size())
	}
}

// carryLimits reports whether an engine 3 run may start another batch as
// far as its carried state and Temporal's child limit go.
func (r *run) carryLimits() bool {
	return len(r.inFlight) < maxBatchesInFlight && r.verifyingSoon()+r.nextSize() <= maxVerifying
}

// verifyingSoon is the instances being verified and those in batches in
// flight, which will be once their batches report.
func (r *run) verifyingSoon() int {
	n := len(r.st.Verifying)
	for _, f := range r.inFlight {
		n += len(f.targets)
	}
	return n
}
