// Package numflagtest is what the binaries' tests share to prove, by
// running the real binary, that every numeric flag refuses what is outside
// its range with exit code 2 and a message naming the flag and the range,
// and that --version works.
package numflagtest

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// Flag is one numeric flag with values around its allowed range.
type Flag struct {
	Name    string // without dashes
	Env     string // the FLEETMEND_* variable that sets it, if any
	Allowed string // the range as the messages name it, e.g. "2..1000"
	Below   string // just under the range
	Min     string // the ends of the range, accepted
	Max     string
	Above   string // just over the range
	ZeroOK  bool   // 0 is in the range with a documented meaning
}

// Refused is the values the flag must refuse: below and above its range,
// 0 unless it means something, and a word.
func (f Flag) Refused() []string {
	v := []string{f.Below, f.Above, "many"}
	if !f.ZeroOK {
		v = append(v, "0")
	}
	return v
}

// Accepted is the values the flag must take: the ends of its range, and 0
// where it means something.
func (f Flag) Accepted() []string {
	v := []string{f.Min, f.Max}
	if f.ZeroOK {
		v = append(v, "0")
	}
	return v
}

// Names is the table's flag names, sorted.
func Names(table []Flag) []string {
	var names []string
	for _, f := range table {
		names = append(names, f.Name)
	}
	slices.Sort(names)
	return names
}

// NumericFlags lists the flags of fs that hold a number, whatever type
// implements them, sorted: what a complete table must cover.
func NumericFlags(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if !ok {
			return
		}
		switch g.Get().(type) {
		case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, time.Duration:
			names = append(names, f.Name)
		}
	})
	return names
}

// CheckComplete fails when the binary's numeric flags and the table differ.
func CheckComplete(t *testing.T, numeric []string, table []Flag) {
	t.Helper()
	if got := Names(table); !slices.Equal(numeric, got) {
		t.Fatalf("the numeric flags are %q, the table covers %q: give every numeric flag a row with its range", numeric, got)
	}
}

// Build builds the command in the current directory (a test's package
// directory) into a temporary directory and returns its path.
func Build(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	start := time.Now()
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	t.Logf("built %s in %s", name, time.Since(start).Round(time.Millisecond))
	return bin
}

// CleanEnv is the test's environment without fleetmend's and Temporal's
// variables, plus extra, so that only what a case sets counts.
func CleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLEETMEND_") && !strings.HasPrefix(kv, "TEMPORAL_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// Result is how a run of a binary ended.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Run runs bin with env and args and waits for it; it bounds the run so
// a binary that starts serving instead of refusing fails the test.
func Run(t *testing.T, bin string, env []string, args ...string) Result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	timer := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run %s %q: %v", bin, args, err)
	}
	return Result{Code: cmd.ProcessState.ExitCode(), Stdout: out.String(), Stderr: errOut.String()}
}

// CheckRefused wants exit code 2, no panic (a Go panic exits 2 too), one
// line of error, and every one of want in it.
func CheckRefused(t *testing.T, r Result, want ...string) {
	t.Helper()
	if r.Code != 2 {
		t.Errorf("exit code %d, want 2; stderr:\n%s", r.Code, r.Stderr)
	}
	if strings.Contains(r.Stderr, "panic") || strings.Contains(r.Stderr, "goroutine ") {
		t.Errorf("panicked:\n%s", r.Stderr)
	}
	if lines := strings.Split(strings.TrimSpace(r.Stderr), "\n"); len(lines) != 1 {
		t.Errorf("want one line of error, got:\n%s", r.Stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("stderr %q lacks %q", r.Stderr, w)
		}
	}
}

// CheckVersion wants exit code 0 and "fleetmend <binary> <version> (go...)".
func CheckVersion(t *testing.T, r Result, binary string) {
	t.Helper()
	re := regexp.MustCompile(`^fleetmend ` + regexp.QuoteMeta(binary) + ` \S+ \(go1\.[0-9.]+\S*\)\n$`)
	if r.Code != 0 || !re.MatchString(r.Stdout) {
		t.Fatalf("--version: exit %d, stdout %q, stderr %q", r.Code, r.Stdout, r.Stderr)
	}
}
