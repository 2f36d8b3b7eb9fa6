package workflows

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fleetmend/fleetmend/ecs"
)

// FuzzRegionInputValidate: any JSON a client could send as a run's input
// either decodes and validates into settings within the documented ranges,
// or is refused with an error naming a field; nothing panics.
func FuzzRegionInputValidate(f *testing.F) {
	for _, seed := range []string{
		`{"region":"cn-hangzhou"}`,
		`{"region":"cn-hangzhou","batch_size":21}`,
		`{"region":"cn-hangzhou","blast_radius":"5%","error_budget":"0"}`,
		`{"region":"cn-hangzhou","instance_ids":["i-bp1aaaaaaaaaaaaaaaaa","i-bp1aaaaaaaaaaaaaaaaa"]}`,
		`{"region":"cn-hangzhou","reboot_grace":"-1s","verify_deadline":"1h"}`,
		`{"region":"cn-hangzhou","max_report_rows":-5,"max_report_bytes":99999999}`,
		`{"region":"Hangzhou","zone_id":"a b"}`,
		`{"region":"cn-hangzhou","exclude_tag":"=","quarantine_window":"1ns"}`,
		`{"region":"cn-hangzhou","blast_radius":"NaN%"}`,
		`{"region":"cn-hangzhou","verify_poll_interval":9223372036854775807}`,
		`{}`, `null`, `[]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var in RegionInput
		if json.Unmarshal(b, &in) != nil {
			return
		}
		in.State, in.Carry = nil, nil
		in = in.WithDefaults()
		err := in.Validate()
		if err != nil {
			msg := err.Error()
			if !strings.Contains(msg, "_") && !strings.Contains(msg, "region") {
				t.Fatalf("error names no field: %q", msg)
			}
			return
		}
		switch {
		case in.BatchSize < 1 || in.BatchSize > 20:
			t.Fatalf("batch_size %d accepted", in.BatchSize)
		case in.VerifyDeadline.D() < MinVerifyDeadline || in.VerifyDeadline.D() > MaxVerifyDeadline:
			t.Fatalf("verify_deadline %s accepted", in.VerifyDeadline)
		case in.RebootGrace.D() < 0 || in.RebootGrace.D() > MaxRebootGrace:
			t.Fatalf("reboot_grace %s accepted", in.RebootGrace)
		case *in.MaxReportRows < 0 || *in.MaxReportRows > MaxReportRows:
			t.Fatalf("max_report_rows %d accepted", *in.MaxReportRows)
		case len(in.InstanceIDs) > MaxExplicitInstanceIDs:
			t.Fatalf("%d instance_ids accepted", len(in.InstanceIDs))
		}
		if in.BlastRadius != "" {
			a, err := ParseAmount("blast_radius", in.BlastRadius, 1, MaxBlastRadius)
			if err != nil || a.Of(1000) < 1 {
				t.Fatalf("blast_radius %q accepted: %+v %v", in.BlastRadius, a, err)
			}
		}
	})
}

// FuzzParseAmount: a count or a share parses into a value within its
// bounds, or is refused naming the field; nothing panics.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"5%", "40", "0", "100%", "100.5%", "-1", "1e3", "%", " 7 ", "0x10", "NaN%", "Inf%", "9999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAmount("blast_radius", s, 1, MaxBlastRadius)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "blast_radius is ") {
				t.Fatalf("error does not name the field: %v", err)
			}
			return
		}
		if a.Percent < 0 || a.Percent > 100 || a.Count < 0 || a.Count > MaxBlastRadius {
			t.Fatalf("%q parsed out of bounds: %+v", s, a)
		}
		if n := a.Of(100000); n < 1 || n > MaxBlastRadius {
			t.Fatalf("%q resolves to %d of 100000", s, n)
		}
	})
}

// FuzzInstanceIDs: the ID check accepts exactly i- and 8..30 lowercase
// letters or digits, once each, and names the bad entry.
func FuzzInstanceIDs(f *testing.F) {
	for _, s := range []string{"i-bp1aaaaaaaaaaaaaaaaa", "i-", "I-BP1AAAAAAAA", "i-bp1aaaaaaaaaaaaaaaaa\r", "web-01", "i-aaaaaaaa,i-aaaaaaaa", "i-\x00\x01\x02abcdef"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := strings.Split(s, ",")
		err := ecs.ValidateInstanceIDs("instance_ids", ids)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "instance_ids[") {
				t.Fatalf("error does not name the entry: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if !ecs.IsInstanceID(id) || seen[id] {
				t.Fatalf("%q accepted", id)
			}
			seen[id] = true
		}
	})
}

// FuzzDuration: a duration in a run's input reads as "90s" or as
// nanoseconds, and writes back the same value.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{`"90s"`, `"10m"`, `"-1s"`, `90000000000`, `"1h2m3.5s"`, `"5d"`, `""`, `null`, `"9999999999h"`, `1e99`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Duration
		if err := json.Unmarshal(b, &d); err != nil {
			return
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("marshal %v: %v", d, err)
		}
		var back Duration
		if err := json.Unmarshal(out, &back); err != nil || back != d {
			t.Fatalf("%s → %s → %v (%v)", b, out, time.Duration(back), err)
		}
	})
}
