// Command ecssim runs the ECS + Cloud Assistant simulator as a standalone
// server, for demos and for tests that run outside the Go process.
//
//	go run ./ecssim/cmd/ecssim --fleet-size 1000 --missing 0.1 --silent 0.05 --time-scale 60
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/fleetmend/fleetmend/ecssim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "ecssim:", err)
		os.Exit(2)
	}
}

// options are the validated command-line flags.
type options struct {
	addr            string
	regions         []string
	accessKeyID     string
	accessKeySecret string
	fleetSize       int
	seed            int64
	missing         float64
	silent          float64
	stopped         float64
	installFails    float64
	vanish          float64
	outdated        float64
	timeScale       float64
	throttleRPS     float64
	errorRate       float64
	latency         time.Duration
	dropRate        float64
}

// Flag bounds; generous, but they keep typos (a fleet of 10^9) from eating
// the machine.
const (
	maxFleetSize = 1_000_000
	maxTimeScale = 1_000_000
	maxLatency   = 5 * time.Minute
)

func parseFlags(args []string, output io.Writer) (options, error) {
	var o options
	var regions string
	fs := flag.NewFlagSet("ecssim", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8300", "listen address host:port (port 0 picks a free one)")
	fs.StringVar(&regions, "regions", ecssim.DefaultRegion, "comma-separated region IDs; each gets a fleet")
	fs.StringVar(&o.accessKeyID, "access-key-id", ecssim.DefaultAccessKeyID, "AccessKeyId the simulator accepts")
	fs.StringVar(&o.accessKeySecret, "access-key-secret", ecssim.DefaultAccessKeySecret, "AccessKeySecret of that key")
	fs.IntVar(&o.fleetSize, "fleet-size", 100, fmt.Sprintf("instances per region, 0..%d", maxFleetSize))
	fs.Int64Var(&o.seed, "seed", 1, "seed of fleet generation and fault injection; same seed, same fleet")
	fs.Float64Var(&o.missing, "missing", 0.1, "share of instances without the agent, 0..1")
	fs.Float64Var(&o.silent, "silent", 0.05, "share of instances whose agent is hung (no heartbeats), 0..1")
	fs.Float64Var(&o.stopped, "stopped", 0.02, "share of Stopped instances, 0..1")
	fs.Float64Var(&o.installFails, "install-fails", 0.01, "share of instances (agent missing) where every install fails, 0..1")
	fs.Float64Var(&o.vanish, "vanish", 0, "share of instances that vanish 5-60 simulated minutes after start, 0..1")
	fs.Float64Var(&o.outdated, "outdated", 0.05, "share of healthy instances with an agent too old for Session Manager, 0..1")
	fs.Float64Var(&o.timeScale, "time-scale", 1, fmt.Sprintf("simulated seconds per real second, >0 and <= %d (60: a minute per second)", maxTimeScale))
	fs.Float64Var(&o.throttleRPS, "throttle-rps", 0, "answer Throttling.User above this many requests per second; 0 disables")
	fs.Float64Var(&o.errorRate, "error-rate", 0, "share of requests answered 503/500, 0..1")
	fs.DurationVar(&o.latency, "latency", 0, fmt.Sprintf("latency added to every request, 0..%v", maxLatency))
	fs.Float64Var(&o.dropRate, "drop-rate", 0, "share of requests whose connection is dropped without an answer, 0..1")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q: all settings are flags", fs.Args())
	}

	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return o, fmt.Errorf("--addr must be host:port, got %q: %w", o.addr, err)
	}
	regionRE := regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	seen := map[string]bool{}
	for _, r := range strings.Split(regions, ",") {
		r = strings.TrimSpace(r)
		if !regionRE.MatchString(r) {
			return o, fmt.Errorf("--regions must be a comma-separated list of region IDs like cn-hangzhou, got %q", regions)
		}
		if seen[r] {
			return o, fmt.Errorf("--regions lists %q twice", r)
		}
		seen[r] = true
		o.regions = append(o.regions, r)
	}
	if o.accessKeyID == "" {
		return o, errors.New("--access-key-id must not be empty")
	}
	if o.accessKeySecret == "" {
		return o, errors.New("--access-key-secret must not be empty")
	}
	if o.fleetSize < 0 || o.fleetSize > maxFleetSize {
		return o, fmt.Errorf("--fleet-size must be between 0 and %d, got %d", maxFleetSize, o.fleetSize)
	}
	shares := []struct {
		name string
		v    float64
	}{
		{"--missing", o.missing}, {"--silent", o.silent}, {"--stopped", o.stopped},
		{"--install-fails", o.installFails}, {"--outdated", o.outdated}, {"--vanish", o.vanish},
		{"--error-rate", o.errorRate}, {"--drop-rate", o.dropRate},
	}
	for _, s := range shares {
		if !(s.v >= 0 && s.v <= 1) {
			return o, fmt.Errorf("%s must be between 0 and 1, got %v", s.name, s.v)
		}
	}
	if sum := o.missing + o.silent + o.stopped + o.installFails + o.outdated; sum > 1+1e-9 {
		return o, fmt.Errorf("--missing + --silent + --stopped + --install-fails + --outdated must be at most 1, got %v", sum)
	}
	if !(o.timeScale > 0 && o.timeScale <= maxTimeScale) {
		return o, fmt.Errorf("--time-scale must be greater than 0 and at most %d, got %v", maxTimeScale, o.timeScale)
	}
	if !(o.throttleRPS >= 0 && o.throttleRPS <= 1e9) {
		return o, fmt.Errorf("--throttle-rps must be between 0 (off) and 1e9, got %v", o.throttleRPS)
	}
	if o.latency < 0 || o.latency > maxLatency {
		return o, fmt.Errorf("--latency must be between 0 and %v, got %v", maxLatency, o.latency)
	}
	return o, nil
}

func (o options) config() ecssim.Config {
	cfg := ecssim.Config{
		Regions:     o.regions,
		Credentials: map[string]ecssim.Credential{o.accessKeyID: {Secret: o.accessKeySecret}},
		TimeScale:   o.timeScale,
		Seed:        o.seed,
		Faults: ecssim.Faults{
			ThrottleRPS: o.throttleRPS,
			ErrorRate:   o.errorRate,
			Latency:     o.latency,
			DropRate:    o.dropRate,
		},
	}
	for i, r := range o.regions {
		cfg.Fleets = append(cfg.Fleets, ecssim.FleetSpec{
			Region: r, Size: o.fleetSize, Seed: o.seed + int64(i),
			Missing: o.missing, Silent: o.silent, Stopped: o.stopped,
			InstallFails: o.installFails, Vanish: o.vanish, Outdated: o.outdated,
			OSWeights: map[string]float64{ecssim.OSLinux: 0.85, ecssim.OSWindows: 0.12, ecssim.OSFreeBSD: 0.03},
		})
	}
	return cfg
}

// run serves until ctx is cancelled (SIGINT/SIGTERM in main).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	sim, err := ecssim.New(o.config())
	if err != nil {
		return fmt.Errorf("building simulator: %w", err)
	}
	srv, err := sim.Start(o.addr)
	if err != nil {
		return err
	}
	region := o.regions[0]
	fmt.Fprintf(stdout, `ecssim listening on %[1]s (endpoint %[2]s)
regions: %[3]s, %[4]d instances each, time scale %[5]gx
access key id: %[6]s
access key secret: %[7]s

Point the SDK at it:
	client, err := ecs.NewClientWithOptions(%[8]q, sdk.NewConfig(),
		credentials.NewStaticAKCredentialsProvider(%[6]q, %[7]q))
	client.Domain = %[2]q // scheme HTTP (the SDK default); set NO_PROXY=127.0.0.1 if HTTP_PROXY is set

Truth:  curl %[1]s/_sim/truth
Faults: curl -X PUT -d '{"throttle_rps":5}' %[1]s/_sim/faults
`, srv.URL(), srv.Endpoint(), strings.Join(o.regions, ","), o.fleetSize, o.timeScale,
		o.accessKeyID, o.accessKeySecret, region)

	<-ctx.Done()
	fmt.Fprintln(stdout, "ecssim: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Requests still running after the grace period (e.g. with injected
		// latency) are cut off; that is what an operator pressing ^C wants.
		if cerr := srv.Close(); cerr != nil {
			return fmt.Errorf("closing after failed shutdown (%v): %w", err, cerr)
		}
	}
	return nil
}
