package ecs

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Regions hands out one Client per region, built from a shared base Config
// on first use. A worker serves every region its runs name, so the region is
// an input of each activity, not a property of the worker.
type Regions struct {
	base    Config
	allowed []string // empty: any region

	mu      sync.Mutex
	clients map[string]*Client
}

// NewRegions checks base (its Region is ignored) and, when allowed is not
// empty, restricts the regions a caller may ask for.
func NewRegions(base Config, allowed []string) (*Regions, error) {
	probe := base
	probe.Region = "cn-hangzhou" // any valid region; only the other fields are checked here
	if err := probe.Validate(); err != nil {
		return nil, err
	}
	for _, r := range allowed {
		probe.Region = r
		if err := probe.Validate(); err != nil {
			return nil, fmt.Errorf("allowed regions: %w", err)
		}
	}
	return &Regions{base: base, allowed: slices.Clone(allowed), clients: map[string]*Client{}}, nil
}

// Allowed are the regions a caller may ask for, in the order given
// (empty: any region).
func (r *Regions) Allowed() []string { return slices.Clone(r.allowed) }

// Client returns the Client for region, creating it on first use.
func (r *Regions) Client(region string) (*Client, error) {
	if len(r.allowed) > 0 && !slices.Contains(r.allowed, region) {
		return nil, fmt.Errorf("region %q is not served by this worker (allowed: %v)", region, r.allowed)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[region]; ok {
		return c, nil
	}
	cfg := r.base
	cfg.Region = region
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	r.clients[region] = c
	return c, nil
}

// Drain waits for the requests of every region's client to finish (see
// Client.Drain), and returns the first region that ran out of time.
func (r *Regions) Drain(ctx context.Context) error {
	r.mu.Lock()
	clients := make([]*Client, 0, len(r.clients))
	for _, c := range r.clients {
		clients = append(clients, c)
	}
	r.mu.Unlock()
	var first error
	for _, c := range clients {
		if err := c.Drain(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// RequestLifetime is the longest a request of these clients can take.
func (r *Regions) RequestLifetime() time.Duration { return r.base.ConnectTimeout + r.base.ReadTimeout }

// DefaultAskRegion is the region whose endpoint answers DescribeRegions
// for a worker that serves every region (any regional endpoint answers
// for the whole account).
const DefaultAskRegion = "cn-hangzhou"
