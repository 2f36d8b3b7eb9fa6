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
	"github.com/fleetmend/fleetmend/internal/config/numflag"
	"github.com/fleetmend/fleetmend/internal/version"
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
	managed         float64
	timeScale       float64
	throttleRPS     float64
	errorRate       float64
	latency         time.Duration
	dropRate        float64
	version         bool
}

// Flag bounds; generous, but they keep typos (a fleet of 10^9) from eating
// the machine.
const (
	maxFleetSize = 1_000_000
	maxTimeScale = 1_000_000
	maxLatency   = 5 * time.Minute
	// Seeds start at 1: a fleet seed of 0 means "derive one", which would
	// make --seed 0 quietly give the fleet of --seed 1.
	maxSeed = 1<<31 - 1
)

// newFlagSet registers every flag into o; regions gets the raw --regions.
func newFlagSet(o *options, regions *string, output io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ecssim", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: ecssim [flags]\n\nServes a simulated ECS + Cloud Assistant API. Example:\n"+
			"  ecssim --fleet-size 1000 --missing 0.15 --silent 0.05 --time-scale 60\n\nFlags:\n")
		numflag.PrintFlags(fs.Output(), fs)
	}
	share := numflag.Range[float64]{Min: 0, Max: 1}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8300", "listen address host:port (port 0 picks a free one)")
	fs.StringVar(regions, "regions", ecssim.DefaultRegion, "comma-separated region IDs; each gets a fleet")
	fs.StringVar(&o.accessKeyID, "access-key-id", ecssim.DefaultAccessKeyID, "AccessKeyId the simulator accepts")
	fs.StringVar(&o.accessKeySecret, "access-key-secret", ecssim.DefaultAccessKeySecret, "AccessKeySecret of that key")
	numflag.Register(fs, numflag.NewInt(&o.fleetSize, "fleet-size", 100, numflag.Range[int]{Min: 1, Max: maxFleetSize}), "instances per region")
	numflag.Register(fs, numflag.NewInt64(&o.seed, "seed", 1, numflag.Range[int64]{Min: 1, Max: maxSeed}), "seed of fleet generation and fault injection; same seed, same fleet")
	numflag.Register(fs, numflag.NewFloat(&o.missing, "missing", 0.1, share), "share of instances without the agent")
	numflag.Register(fs, numflag.NewFloat(&o.silent, "silent", 0.05, share), "share of instances whose agent is hung (no heartbeats)")
	numflag.Register(fs, numflag.NewFloat(&o.stopped, "stopped", 0.02, share), "share of Stopped instances")
	numflag.Register(fs, numflag.NewFloat(&o.installFails, "install-fails", 0.01, share), "share of instances (agent missing) where every install fails")
	numflag.Register(fs, numflag.NewFloat(&o.vanish, "vanish", 0, share), "share of instances that vanish 5-60 simulated minutes after start")
	numflag.Register(fs, numflag.NewFloat(&o.outdated, "outdated", 0.05, share), "share of healthy instances with an agent too old for Session Manager")
	numflag.Register(fs, numflag.NewFloat(&o.managed, "managed", 0, share),
		"share of managed instances (mi- IDs, outside ECS): listed by DescribeCloudAssistantStatus, unknown to the ECS actions; a fifth offline")
	numflag.Register(fs, numflag.NewFloat(&o.timeScale, "time-scale", 1, numflag.Range[float64]{Min: 0, Max: maxTimeScale, OpenMin: true}), "simulated seconds per real second (60: a minute per second)")
	numflag.Register(fs, numflag.NewFloat(&o.throttleRPS, "throttle-rps", 0, numflag.Range[float64]{Min: 0, Max: 1e9}), "answer Throttling.User above this many requests per second (0: no throttling)")
	numflag.Register(fs, numflag.NewFloat(&o.errorRate, "error-rate", 0, share), "share of requests answered 503/500")
	numflag.Register(fs, numflag.NewDuration(&o.latency, "latency", 0, numflag.Range[time.Duration]{Min: 0, Max: maxLatency}), "latency added to every request")
	numflag.Register(fs, numflag.NewFloat(&o.dropRate, "drop-rate", 0, share), "share of requests whose connection is dropped without an answer")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	return fs
}

func parseFlags(args []string, output io.Writer) (options, error) {
	var o options
	var regions string
	fs := newFlagSet(&o, &regions, output)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.version {
		return o, nil
	}
	if err := numflag.CheckFlags(fs); err != nil {
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
	if sum := o.missing + o.silent + o.stopped + o.installFails + o.outdated + o.managed; sum > 1+1e-9 {
		return o, fmt.Errorf("--missing + --silent + --stopped + --install-fails + --outdated + --managed is %.4g, must be at most 1", sum)
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
			InstallFails: o.installFails, Vanish: o.vanish, Outdated: o.outdated, Managed: o.managed,
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
	if o.version {
		_, err := fmt.Fprintln(stdout, version.Line("ecssim"))
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
