package main

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/internal/config/numflag/numflagtest"
	"github.com/fleetmend/fleetmend/workflows"
)

// numericFlag is a numeric flag of one command.
type numericFlag struct {
	command string // the path under starter, e.g. "schedule create"
	numflagtest.Flag
	args []string // positional arguments the command needs, e.g. a run ID
}

// numericFlags is every numeric flag of every command with values around
// its allowed range. TestFlagTableIsComplete fails when one is missing.
func numericFlags() []numericFlag {
	quarantineAfter := numflagtest.Flag{Name: "quarantine-after", Allowed: "1..20", Below: "-1", Min: "1", Max: "20", Above: "21"}
	quarantineWindow := numflagtest.Flag{Name: "quarantine-window", Allowed: "1h..2160h", Below: "59m", Min: "1h", Max: "2160h", Above: "2161h"}
	runFlags := []numflagtest.Flag{
		{Name: "batch-size", Allowed: "1..20", Below: "-1", Min: "1", Max: "20", Above: "21"},
		{Name: "concurrent-batches", Allowed: "0..1000", Below: "-1", Min: "1", Max: "1000", Above: "1001", ZeroOK: true},
		{Name: "reboot-grace", Allowed: "0s..10m", Below: "-1s", Min: "0s", Max: "10m", Above: "10m1s", ZeroOK: true},
		{Name: "verify-deadline", Allowed: "10s..2h", Below: "9s", Min: "10s", Max: "2h", Above: "121m"},
		{Name: "verify-poll-interval", Allowed: "100ms..5m", Below: "99ms", Min: "100ms", Max: "5m", Above: "6m"},
		{Name: "max-report-rows", Allowed: "0..5000", Below: "-1", Min: "0", Max: "5000", Above: "5001", ZeroOK: true},
		{Name: "max-report-bytes", Allowed: "16384..262144", Below: "16383", Min: "16384", Max: "262144", Above: "262145"},
		{Name: "max-unhealthy-percent", Allowed: "1..100", Below: "-1", Min: "1", Max: "100", Above: "101"},
		quarantineAfter, quarantineWindow,
		{Name: "stuck-after", Allowed: "10s..168h", Below: "9s", Min: "10s", Max: "168h", Above: "169h"},
		{Name: "canary", Allowed: "0..100000", Below: "-1", Min: "1", Max: "100000", Above: "100001", ZeroOK: true},
		{Name: "canary-success", Allowed: "1..100", Below: "-1", Min: "1", Max: "100", Above: "101"},
		{Name: "ramp", Allowed: "1.1..100", Below: "1", Min: "1.1", Max: "100", Above: "101"},
		{Name: "early-signal", Allowed: "0s..2h", Below: "-1s", Min: "0s", Max: "2h", Above: "121m", ZeroOK: true},
		{Name: "stable-for", Allowed: "0s..10m", Below: "-1s", Min: "0s", Max: "10m", Above: "11m", ZeroOK: true},
	}
	progress := numflagtest.Flag{Name: "progress-interval", Allowed: "100ms..1m", Below: "10ms", Min: "100ms", Max: "1m", Above: "2m"}
	limit := numflagtest.Flag{Name: "limit", Allowed: "1..1000", Below: "-1", Min: "1", Max: "1000", Above: "1001"}
	var out []numericFlag
	for _, f := range append(slices.Clone(runFlags), progress) {
		out = append(out, numericFlag{"run", f, nil})
	}
	for _, cmd := range []string{"schedule create", "schedule update"} {
		for _, f := range append(slices.Clone(runFlags),
			numflagtest.Flag{Name: "every", Allowed: "1m..744h", Below: "59s", Min: "1m", Max: "744h", Above: "745h"},
			numflagtest.Flag{Name: "offset", Allowed: "0s..744h", Below: "-1m", Min: "0s", Max: "744h", Above: "745h", ZeroOK: true},
			numflagtest.Flag{Name: "jitter", Allowed: "0s..24h", Below: "-1s", Min: "0s", Max: "24h", Above: "25h", ZeroOK: true},
			numflagtest.Flag{Name: "catchup-window", Allowed: "10s..168h", Below: "9s", Min: "10s", Max: "168h", Above: "169h"},
		) {
			out = append(out, numericFlag{cmd, f, nil})
		}
	}
	// apply takes the run flags the plan does not fix, and its own.
	for _, f := range append(slices.Clone(runFlags), progress,
		numflagtest.Flag{Name: "max-plan-age", Allowed: "1m..720h", Below: "59s", Min: "1m", Max: "720h", Above: "721h"},
		numflagtest.Flag{Name: "max-drift", Allowed: "0..100", Below: "-1", Min: "0", Max: "100", Above: "101", ZeroOK: true},
	) {
		if !slices.Contains(planFixed(), f.Name) {
			out = append(out, numericFlag{"apply", f, nil})
		}
	}
	out = append(out, numericFlag{"schedule trigger", progress, nil}, numericFlag{"audit", limit, nil}, numericFlag{"list", limit, nil},
		numericFlag{"set", numflagtest.Flag{Name: "concurrent-batches", Allowed: "0..1000", Below: "-1", Min: "1", Max: "1000", Above: "1001", ZeroOK: true},
			[]string{"fleetmend/cn-hangzhou/manual-x"}},
		numericFlag{"quarantine list", quarantineAfter, nil}, numericFlag{"quarantine list", quarantineWindow, nil})
	return out
}

// isNumericType says whether a pflag type name is a number's.
func isNumericType(typ string) bool {
	switch typ {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64",
		"float", "float32", "float64", "duration":
		return true
	}
	return false
}

func TestFlagTableIsComplete(t *testing.T) {
	root := newApp(&bytes.Buffer{}, &bytes.Buffer{}).rootCommand()
	var found, table []string
	for _, cmd := range allCommands(root) {
		path := strings.TrimPrefix(strings.TrimPrefix(cmd.CommandPath(), "starter"), " ")
		visit := func(f *pflag.Flag) {
			if isNumericType(f.Value.Type()) {
				found = append(found, path+" --"+f.Name)
			}
		}
		cmd.LocalFlags().VisitAll(visit)
		cmd.InheritedFlags().VisitAll(visit)
	}
	for _, f := range numericFlags() {
		table = append(table, f.command+" --"+f.Name)
	}
	slices.Sort(found)
	found = slices.Compact(found)
	slices.Sort(table)
	require.Equal(t, found, table, "every numeric flag of every command needs a row in numericFlags with its range")
}

// TestStarterBinary builds the starter once and runs it: --version, and
// every numeric flag of every command refusing a value below and above its
// range, 0 (unless 0 means something) and a word, with exit code 2 and one
// line naming the flag and the range, before connecting to Temporal (the
// address given does not answer: a connection attempt would fail with
// another message).
func TestStarterBinary(t *testing.T) {
	bin := numflagtest.Build(t, "starter")
	env := numflagtest.CleanEnv()
	t.Run("--version", func(t *testing.T) {
		numflagtest.CheckVersion(t, numflagtest.Run(t, bin, env, "--version"), "starter")
	})
	for _, f := range numericFlags() {
		for _, v := range f.Refused() {
			t.Run(f.command+" --"+f.Name+"="+v, func(t *testing.T) {
				args := append(append(strings.Fields(f.command), f.args...), "--temporal-address", "127.0.0.1:1", "--"+f.Name+"="+v)
				r := numflagtest.Run(t, bin, env, args...)
				numflagtest.CheckRefused(t, r, "error: --"+f.Name+" is ", "allowed range is "+f.Allowed)
			})
		}
	}
}

// The ends of every range, and 0 where it means something, pass the flag
// checks (what the command then does with them is its own business).
func TestFlagRangeEndsAreAccepted(t *testing.T) {
	for _, f := range numericFlags() {
		for _, v := range f.Accepted() {
			root := newApp(&bytes.Buffer{}, &bytes.Buffer{}).rootCommand()
			cmd, _, err := root.Find(strings.Fields(f.command))
			require.NoError(t, err)
			require.NoError(t, cmd.ParseFlags([]string{"--" + f.Name, v}))
			require.NoError(t, checkFlags(cmd), "%s --%s %s", f.command, f.Name, v)
		}
	}
}

// /dev/null is a character device but no terminal: progress there is
// plain lines, not a bar rewritten with \r.
func TestDevNullIsNoTerminal(t *testing.T) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	fi, err := f.Stat()
	require.NoError(t, err)
	require.NotZero(t, fi.Mode()&os.ModeCharDevice, "the case this guards against")
	_, _, tty := newApp(f, f).terminal()
	require.False(t, tty)
	_, _, tty = newApp(&bytes.Buffer{}, &bytes.Buffer{}).terminal()
	require.False(t, tty)
}

// An early signal left unset is 3m, or the verify deadline when that is
// shorter: a short --verify-deadline alone is a valid run.
func TestEarlySignalDefaultFitsTheVerifyDeadline(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, workflows.DefaultEarlySignal},
		{[]string{"--verify-deadline", "10s"}, 10 * time.Second},
		{[]string{"--verify-deadline", "10s", "--early-signal", "4s"}, 4 * time.Second},
	} {
		var f runFlags
		fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
		f.register(fs, true)
		require.NoError(t, fs.Parse(append([]string{"--region", "cn-hangzhou"}, tc.args...)))
		in, err := f.input(workflows.KindManual, "test", false)
		require.NoError(t, err, tc.args)
		require.Equal(t, tc.want, in.EarlySignal.D(), tc.args)
	}
	var f runFlags
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	f.register(fs, true)
	require.NoError(t, fs.Parse([]string{"--region", "cn-hangzhou", "--verify-deadline", "10s", "--early-signal", "11s"}))
	_, err := f.input(workflows.KindManual, "test", false)
	require.ErrorContains(t, err, "--early-signal: early_signal is 11s, allowed range is 1s..verify_deadline (10s)")
}

// TestBadArgumentsAreRefusedBeforeConnecting: a zone of another region,
// a blank run ID and a managed instance where ECS instances are asked for
// are usage errors (exit 2, one line naming the flag or argument) found
// before any connection is tried: the address given does not answer, so a
// connection attempt would fail with another message.
func TestBadArgumentsAreRefusedBeforeConnecting(t *testing.T) {
	t.Setenv("TEMPORAL_CONFIG_FILE", t.TempDir()+"/none.toml")
	const runID = "error: a run ID is required (the workflow ID `starter run` printed, e.g. fleetmend/cn-hangzhou/manual-20261122T101500Z)\n"
	for _, tc := range []struct {
		args []string
		want string // the whole of stderr, or its start when wantPrefix
		pre  bool
	}{
		{[]string{"run", "--region", "cn-hangzhou", "--zone", "cn-shanghai-a"},
			`error: invalid run settings: --zone: zone_id "cn-shanghai-a" is not a zone of region cn-hangzhou: a zone ID starts with its region's ID (such as cn-hangzhou-h)` + "\n", false},
		{[]string{"run", "--region", "cn-hangzhou", "--zone", "cn-hangzhou"},
			`error: invalid run settings: --zone: zone_id "cn-hangzhou" is not a zone of region cn-hangzhou`, true},
		{[]string{"run", "--region", "cn-hangzhou", "--dry-run", "--zone", "cn-beijing-h"},
			`error: invalid run settings: --zone: zone_id "cn-beijing-h" is not a zone of region cn-hangzhou`, true},
		{[]string{"schedule", "create", "--region", "cn-hangzhou", "--every", "6h", "--zone", "cn-shanghai-a"},
			`error: invalid run settings: --zone: zone_id "cn-shanghai-a" is not a zone of region cn-hangzhou`, true},
		{[]string{"run", "--region", "cn-hangzhou", "--instance-ids", "i-bp1aaaaaaaaaaaaaaaaa,mi-hz018jrc1o0aaaaa"},
			`error: invalid run settings: --instance-ids: instance_ids[1] "mi-hz018jrc1o0aaaaa" is a managed instance: fleetmend cannot repair managed instances`, true},
		{[]string{"run", "--region", "cn-hangzhou", "--instance-ids", "web-01"},
			`error: invalid run settings: --instance-ids: instance_ids[0] "web-01" is not an ECS instance ID`, true},
		{[]string{"audit", "--instance", "mi-"}, `error: --instance "mi-" is not an ECS instance ID (i- followed by 8..30 lowercase letters or digits) nor a managed instance's`, true},
		{[]string{"status", ""}, runID, false},
		{[]string{"status", "  "}, runID, false},
		{[]string{"report", ""}, runID, false},
		{[]string{"cancel", ""}, runID, false},
		{[]string{"pause", "", "--reason", "x"}, runID, false},
		{[]string{"resume", "", "--reason", "x"}, runID, false},
		{[]string{"abort", "", "--reason", "x"}, runID, false},
		{[]string{"set", "", "--concurrent-batches", "3", "--reason", "x"}, runID, false},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := execute(t.Context(), append([]string{"--temporal-address", "127.0.0.1:1"}, tc.args...), &out, &errOut)
			require.Equal(t, exitUsage, code, errOut.String())
			if tc.pre {
				require.True(t, strings.HasPrefix(errOut.String(), tc.want), "%q", errOut.String())
				require.Equal(t, 1, strings.Count(errOut.String(), "\n"), "one line: %q", errOut.String())
			} else {
				require.Equal(t, tc.want, errOut.String())
			}
			require.Empty(t, out.String())
		})
	}
}
