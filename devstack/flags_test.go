package main

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/internal/config/numflag/numflagtest"
)

// numericFlags is every numeric flag of devstack with values around its
// allowed range. TestFlagTableIsComplete fails when one is missing here.
func numericFlags() []numflagtest.Flag {
	share := func(name string) numflagtest.Flag {
		return numflagtest.Flag{Name: name, Allowed: "0..1", Below: "-0.01", Min: "0", Max: "1", Above: "1.5", ZeroOK: true}
	}
	return []numflagtest.Flag{
		{Name: "port", Allowed: "0..65535", Below: "-1", Min: "0", Max: "65535", Above: "65536", ZeroOK: true},
		{Name: "ui-port", Allowed: "-1..65535", Below: "-2", Min: "-1", Max: "65535", Above: "70000", ZeroOK: true},
		{Name: "sim-port", Allowed: "0..65535", Below: "-1", Min: "0", Max: "65535", Above: "65536", ZeroOK: true},
		{Name: "fleet-size", Allowed: "1..100000", Below: "-1", Min: "1", Max: "100000", Above: "100001"},
		{Name: "seed", Allowed: "1..2147483647", Below: "-7", Min: "1", Max: "2147483647", Above: "2147483648"},
		share("missing"), share("silent"), share("stopped"), share("install-fails"), share("vanish"), share("managed"),
		{Name: "time-scale", Allowed: "(0, 3600]", Below: "-60", Min: "0.001", Max: "3600", Above: "3601"},
	}
}

func TestFlagTableIsComplete(t *testing.T) {
	numflagtest.CheckComplete(t, numflagtest.NumericFlags(newFlagSet(&cliOptions{}, io.Discard)), numericFlags())
}

// TestDevstackBinary builds devstack once and runs it: --version, and every
// numeric flag refusing a value below and above its range, 0 (unless 0
// means something) and a word with exit code 2 and one line naming the
// flag and the range — before any server starts (each case would
// otherwise start Temporal on the default ports and not exit); and a
// --postgres URL that is not one, refused the same way.
func TestDevstackBinary(t *testing.T) {
	bin := numflagtest.Build(t, "devstack")
	t.Run("--version", func(t *testing.T) {
		numflagtest.CheckVersion(t, numflagtest.Run(t, bin, numflagtest.CleanEnv(), "--version"), "devstack")
	})
	t.Run("--postgres=mysql://", func(t *testing.T) {
		r := numflagtest.Run(t, bin, numflagtest.CleanEnv(), "--postgres", "mysql://fm:s3cr3t@db/fm")
		numflagtest.CheckRefused(t, r, "devstack: --postgres: ", `scheme "mysql"`)
		require.NotContains(t, r.Stderr, "s3cr3t", "the password is never shown")
		require.NotContains(t, r.Stdout, "starting Temporal server", "it started the stack")
	})
	for _, f := range numericFlags() {
		for _, v := range f.Refused() {
			t.Run("--"+f.Name+"="+v, func(t *testing.T) {
				r := numflagtest.Run(t, bin, numflagtest.CleanEnv(), "--ephemeral", "--"+f.Name, v)
				numflagtest.CheckRefused(t, r, "devstack: --"+f.Name+" is ", "allowed range is "+f.Allowed)
				require.NotContains(t, r.Stdout, "starting Temporal server", "it started the stack")
			})
		}
	}
}

func TestFlagRangeEndsAreAccepted(t *testing.T) {
	for _, f := range numericFlags() {
		for _, v := range f.Accepted() {
			// The problem shares add up to at most 1: only the one tested is set.
			args := []string{"--missing", "0", "--silent", "0", "--stopped", "0", "--install-fails", "0", "--" + f.Name, v}
			_, err := parseFlags(args, io.Discard)
			require.NoError(t, err, "%v", args)
		}
	}
}

func TestHistoryURL(t *testing.T) {
	require.Equal(t,
		"http://127.0.0.1:8233/namespaces/default/workflows/fleetmend%2Fcn-hangzhou%2Fdemo-20261122T101500Z/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/history",
		HistoryURL("http://127.0.0.1:8233/", "default", "fleetmend/cn-hangzhou/demo-20261122T101500Z", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"))
	// encodeURIComponent's set: letters, digits and -_.!~*'() stay.
	require.Equal(t, "http://ui/namespaces/my%20ns/workflows/a%3Ab%40c%2B%26%3D%3F%23%25%C3%A9-_.!~*'()/r/history",
		HistoryURL("http://ui", "my ns", "a:b@c+&=?#%é-_.!~*'()", "r"))
}
