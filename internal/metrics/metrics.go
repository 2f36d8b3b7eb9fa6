// Package metrics exposes the worker's metrics to Prometheus: the Temporal
// SDK's own (through the SDK's tally contrib and tally's Prometheus
// reporter) and fleetmend's, which the workflows and activities emit
// through the same Temporal metrics handler (so workflow metrics are not
// counted again when a workflow is replayed), plus ECS calls and their
// latency from the ECS client. It also serves /healthz.
package metrics

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// Names of the ECS client's metrics. Counters get "_total" appended and
// timers "_seconds" (OpenMetrics naming), e.g. fleetmend_ecs_calls_total.
// The workflows' metrics are named in package workflows (Metric*), the
// activities' in package activities, where they are emitted.
const (
	ECSCalls   = "fleetmend_ecs_calls"   // tags: action, outcome (OK, the ECS error code, or the error class)
	ECSLatency = "fleetmend_ecs_latency" // a histogram; tags: action
)

// ECSLatencyBuckets are the latency histogram's buckets, in seconds: from
// a fast describe to a slow reboot, and the SDK's read timeout.
func ECSLatencyBuckets() []float64 {
	return []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
}

// reportEvery is how often tally hands counters to the Prometheus
// registry: a scrape sees what happened up to this long ago.
const reportEvery = time.Second

// sanitize is the SDK contrib's Prometheus naming (names and label names
// of letters, digits and '_'), except that label values keep '-', '.'
// and ':': a region is cn-hangzhou, a reason no-heartbeat, as everywhere
// else in fleetmend. Prometheus allows any UTF-8 in values.
func sanitize() *tally.SanitizeOptions {
	o := sdktally.PrometheusSanitizeOptions
	o.ValueCharacters = tally.ValidCharacters{Ranges: tally.AlphanumericRange, Characters: []rune{'_', '-', '.', ':'}}
	return &o
}

// Set is the worker's metrics: a Prometheus registry and the Temporal
// metrics handler that writes into it.
type Set struct {
	Registry *prom.Registry
	Handler  client.MetricsHandler
	closer   io.Closer
}

// New builds the registry, with the Go runtime and process collectors.
func New() (*Set, error) {
	reg := prom.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("register Go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("register process collector: %w", err)
	}
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:              reg,
		DefaultTimerType:        tallyprom.HistogramTimerType,
		DefaultHistogramBuckets: ECSLatencyBuckets(),
		// A metric that cannot be registered (the same name with other
		// labels) is dropped rather than crashing the worker mid-run.
		OnRegisterError: func(error) {},
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: sanitize(),
	}, reportEvery)
	return &Set{Registry: reg, Handler: sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), closer: closer}, nil
}

// ObserveECS is the ECS client's Observe hook: one call counted by action
// and outcome, and its latency.
func (s *Set) ObserveECS(action, outcome string, took time.Duration) {
	h := s.Handler.WithTags(map[string]string{"action": action})
	h.WithTags(map[string]string{"outcome": outcome}).Counter(ECSCalls).Inc(1)
	h.Timer(ECSLatency).Record(took)
}

// Close flushes the tally scope.
func (s *Set) Close() error { return s.closer.Close() }

// Health says whether the worker is healthy, with a reason when it is not.
type Health func(ctx context.Context) error

// Serve serves /metrics and /healthz on addr until ctx ends. It returns
// once the listener is up (so a bad address is an error at start).
func (s *Set) Serve(ctx context.Context, addr string, health Health) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		hctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := health(hctx); err != nil {
			http.Error(w, "unhealthy: "+err.Error()+"\n", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok: polling\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr(), nil
}

// Probe asks a worker's /healthz at addr: the Docker health check runs it
// (the image has no shell, no curl) as `worker healthcheck`.
func Probe(ctx context.Context, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("health probe of %s: %w", addr, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health probe of %s: %w", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health probe of %s: %s: %s", addr, resp.Status, body)
	}
	return nil
}
