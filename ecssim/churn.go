package ecssim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Churn makes a region's fleet change while someone lists it, the way a
// busy account's does during a long scan: before each listing call of
// Actions in Region reaches its action, DeletePerCall random live instances
// of the region vanish (anywhere in the listing, so also behind a paging
// cursor) and CreatePerCall new Running instances appear at its end. The
// zero value (no deletes, no creates) churns nothing.
type Churn struct {
	// Region is the churning region; default: the first configured region.
	Region        string `json:"region"`
	DeletePerCall int    `json:"delete_per_call"`
	CreatePerCall int    `json:"create_per_call"`
	// Missing is the share of created instances without an agent (exact
	// over the created ones: the k-th is missing when ⌊k·Missing⌋ grows);
	// the others have a healthy agent heartbeating from their creation.
	Missing float64 `json:"missing,omitempty"`
	// Zones the created instances are spread over round-robin; default
	// <region>-a, <region>-b.
	Zones []string `json:"zones,omitempty"`
	// Actions whose listing calls churn; default all three listings:
	// DescribeCloudAssistantStatus and DescribeInstanceStatus without
	// InstanceId.N, DescribeInstances without InstanceIds. By-ID calls
	// never churn.
	Actions []string `json:"actions,omitempty"`
	// Seed drives which instances are deleted and the new IDs; 0 derives
	// one from Config.Seed. Setting the churn restarts its random stream.
	Seed int64 `json:"seed,omitempty"`
}

// listingActions are the actions that can list a region.
func listingActions() []string {
	return []string{ActionDescribeCloudAssistantStatus, ActionDescribeInstanceStatus, ActionDescribeInstances}
}

// churnState is the live churn and its random stream, guarded by s.mu.
type churnState struct {
	cfg     Churn
	rng     *rand.Rand
	created int // instances created since the churn was set, for the exact Missing share
}

func (s *Sim) normalizeChurn(c Churn) (Churn, error) {
	if c.Region == "" {
		c.Region = s.cfg.Regions[0]
	}
	if !s.knownRegion(c.Region) {
		return c, fmt.Errorf("churn: region %q is not configured", c.Region)
	}
	if c.DeletePerCall < 0 || c.CreatePerCall < 0 {
		return c, fmt.Errorf("churn: DeletePerCall and CreatePerCall must not be negative, got %d and %d", c.DeletePerCall, c.CreatePerCall)
	}
	if !(c.Missing >= 0 && c.Missing <= 1) {
		return c, fmt.Errorf("churn: Missing must be in [0,1], got %v", c.Missing)
	}
	if len(c.Zones) == 0 {
		c.Zones = []string{c.Region + "-a", c.Region + "-b"}
	}
	c.Zones = slices.Clone(c.Zones)
	for i, z := range c.Zones {
		if z == "" {
			return c, fmt.Errorf("churn: Zones[%d] is empty", i)
		}
	}
	if len(c.Actions) == 0 {
		c.Actions = listingActions()
	}
	c.Actions = slices.Clone(c.Actions)
	for _, a := range c.Actions {
		if !slices.Contains(listingActions(), a) {
			return c, fmt.Errorf("churn: Actions names %q; only listings churn: %v", a, listingActions())
		}
	}
	return c, nil
}

// SetChurn replaces the churn (Churn{} stops it). It returns an error, and
// changes nothing, if the churn is not valid.
func (s *Sim) SetChurn(c Churn) error {
	norm, err := s.normalizeChurn(c)
	if err != nil {
		return fmt.Errorf("ecssim: %w", err)
	}
	seed := uint64(norm.Seed)
	if seed == 0 {
		seed = uint64(s.cfg.Seed)*1_000_003 + 0xc4
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.churn = churnState{cfg: norm, rng: rand.New(rand.NewPCG(seed, 0xc4a2))}
	return nil
}

// Churn returns the churn in effect, with its defaults filled in.
func (s *Sim) Churn() Churn {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.churn.cfg
	c.Zones = slices.Clone(c.Zones)
	c.Actions = slices.Clone(c.Actions)
	return c
}

// churnBefore applies the churn before a call of action reaches it, if the
// call is a listing of the churning region.
func (s *Sim) churnBefore(action string, c *call) {
	byID := len(instanceIDParams(c.v)) > 0
	if action == ActionDescribeInstances {
		_, byID, _ = instanceIDsJSON(c.v)
	}
	if byID {
		return // not a listing
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := &s.churn
	if ch.cfg.DeletePerCall == 0 && ch.cfg.CreatePerCall == 0 {
		return
	}
	if ch.cfg.Region != c.region || !slices.Contains(ch.cfg.Actions, action) {
		return
	}
	now := s.now()
	s.churnDelete(ch.cfg.Region, ch.cfg.DeletePerCall, ch.rng, now)
	for range ch.cfg.CreatePerCall {
		s.churnCreate(now)
	}
}

// churnDelete makes n random live instances of region vanish at now (fewer
// if fewer live). It picks by index from the listing, which still holds the
// vanished instances it has not compacted yet; compacting once they are the
// majority keeps the expected number of picks below two.
func (s *Sim) churnDelete(region string, n int, rng *rand.Rand, now time.Time) {
	l := s.lists[listKey{region: region}]
	if l == nil {
		return
	}
	for deleted := 0; deleted < n && len(l.items)-l.dead > 0; {
		if l.dead > len(l.items)/2 {
			l.live()
		}
		in := l.items[rng.IntN(len(l.items))]
		if in.vanished {
			continue
		}
		s.advance(in, now)
		if in.vanished { // its own vanish time had come
			continue
		}
		s.markVanished(in, now)
		deleted++
	}
}

// churnCreate adds one Running instance to the churning region at now.
func (s *Sim) churnCreate(now time.Time) {
	ch := &s.churn
	ch.created++
	k := float64(ch.created)
	missing := math.Floor(k*ch.cfg.Missing) > math.Floor((k-1)*ch.cfg.Missing)
	in := &instance{
		id:         s.newID(ch.cfg.Region, ch.rng),
		region:     ch.cfg.Region,
		zone:       ch.cfg.Zones[(ch.created-1)%len(ch.cfg.Zones)],
		osType:     OSLinux,
		state:      StateRunning,
		hbInterval: 60 * time.Second,
		createdAt:  now,
		bootedAt:   now,
	}
	in.initialProblem = ProblemMissing
	if !missing {
		in.agentInstalled = true
		in.agentVersion = s.cfg.AgentVersion
		in.startBeating(now)
		in.initialProblem = ProblemHealthy
	}
	s.addInstance(in)
}
