package numflag

import (
	"bytes"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func newTestSet() (*flag.FlagSet, *int, *float64, *time.Duration) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var n int
	var f float64
	var d time.Duration
	Register(fs, NewInt(&n, "tasks", 10, Range[int]{Min: 2, Max: 1000}).FromEnv("FLEETMEND_TEST_TASKS"), "tasks at once")
	Register(fs, NewFloat(&f, "scale", 60, Range[float64]{Min: 0, Max: 3600, OpenMin: true}), "time scale")
	Register(fs, NewDuration(&d, "timeout", 30*time.Second, Range[time.Duration]{Min: time.Second, Max: time.Hour}), "stop timeout")
	return fs, &n, &f, &d
}

func TestNumFlagsRefuseWhatIsOutsideTheirRange(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tasks", "1"}, "--tasks is 1, allowed range is 2..1000"},
		{[]string{"--tasks", "0"}, "--tasks is 0, allowed range is 2..1000"},
		{[]string{"--tasks", "1001"}, "--tasks is 1001, allowed range is 2..1000"},
		{[]string{"--tasks", "ten"}, `--tasks is "ten", not an integer; allowed range is 2..1000`},
		{[]string{"--tasks", "99999999999999999999"}, "--tasks is 99999999999999999999, out of range; allowed range is 2..1000"},
		{[]string{"--scale", "0"}, "--scale is 0, allowed range is (0, 3600]"},
		{[]string{"--scale", "NaN"}, "--scale is NaN, allowed range is (0, 3600]"},
		{[]string{"--scale", "+Inf"}, "--scale is +Inf, allowed range is (0, 3600]"},
		{[]string{"--timeout", "0s"}, "--timeout is 0s, allowed range is 1s..1h"},
		{[]string{"--timeout", "2h"}, "--timeout is 2h, allowed range is 1s..1h"},
		{[]string{"--timeout", "30"}, `--timeout is "30", not a duration (such as 500ms, 30s, 5m, 2h); allowed range is 1s..1h`},
		// The last value given counts, as with any flag.
		{[]string{"--tasks", "3", "--tasks", "1"}, "--tasks is 1"},
	} {
		fs, _, _, _ := newTestSet()
		err := Parse(fs, tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
	fs, n, f, d := newTestSet()
	if err := Parse(fs, []string{"--tasks", "1", "--tasks", "2", "--scale", "0.5", "--timeout", "1h"}); err != nil {
		t.Fatal(err)
	}
	if *n != 2 || *f != 0.5 || *d != time.Hour {
		t.Fatalf("values %d %g %s", *n, *f, *d)
	}
}

func TestNumFlagsFromTheEnvironment(t *testing.T) {
	t.Setenv("FLEETMEND_TEST_TASKS", "1")
	fs, _, _, _ := newTestSet()
	err := Parse(fs, []string{"--tasks", "5"})
	want := "FLEETMEND_TEST_TASKS is 1, allowed range is 2..1000 (the variable sets --tasks)"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q even though the flag is valid", err, want)
	}
	t.Setenv("FLEETMEND_TEST_TASKS", "x")
	fs, _, _, _ = newTestSet()
	if err := Parse(fs, nil); err == nil || !strings.Contains(err.Error(), `FLEETMEND_TEST_TASKS is "x", not an integer; allowed range is 2..1000`) {
		t.Fatalf("error %v", err)
	}
	t.Setenv("FLEETMEND_TEST_TASKS", "7")
	fs, n, _, _ := newTestSet()
	if err := Parse(fs, nil); err != nil || *n != 7 {
		t.Fatalf("from the variable: %d, %v", *n, err)
	}
	if err := Parse(fs, []string{"--tasks", "8"}); err != nil || *n != 8 {
		t.Fatalf("the flag wins over the variable: %d, %v", *n, err)
	}
	t.Setenv("FLEETMEND_TEST_TASKS", "")
	fs, n, _, _ = newTestSet()
	if err := Parse(fs, nil); err != nil || *n != 10 {
		t.Fatalf("an empty variable is unset: %d, %v", *n, err)
	}
}

func TestPrintFlags(t *testing.T) {
	fs, _, _, _ := newTestSet()
	fs.String("name", "x", "a name")
	fs.Bool("demo", false, "a demo")
	var b bytes.Buffer
	PrintFlags(&b, fs)
	for _, want := range []string{
		"  --tasks int\n    \ttasks at once, 2..1000 (FLEETMEND_TEST_TASKS) (default 10)\n",
		"  --scale float\n    \ttime scale, (0, 3600] (default 60)\n",
		"  --timeout duration\n    \tstop timeout, 1s..1h (default 30s)\n",
		"  --name string\n    \ta name (default \"x\")\n",
		"  --demo\n    \ta demo\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, b.String())
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 100 * time.Millisecond: "100ms", time.Minute: "1m", 90 * time.Second: "1m30s",
		744 * time.Hour: "744h", 2*time.Hour + 30*time.Minute: "2h30m", time.Hour + time.Second: "1h0m1s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestFormatFloat(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.5: "0.5", 100000: "100000", 1e9: "1000000000", -5: "-5", 1e-6: "1e-06", 1.5e20: "1.5e+20"} {
		if got := FormatFloat(v); got != want {
			t.Errorf("FormatFloat(%v) = %q, want %q", v, got, want)
		}
	}
}
