package ecssim

import (
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// generateFleet creates the instances of one FleetSpec. Every random choice
// comes from the fleet's seed, drawn in a fixed order, so the same spec and
// seed always give the same fleet. Callers hold no lock (New is not shared yet).
func (s *Sim) generateFleet(index int, f FleetSpec, start time.Time) {
	seed := f.Seed
	if seed == 0 {
		seed = s.cfg.Seed*1_000_003 + int64(index) + 1
	}
	// IDs get their own stream so they depend only on the seed and the size,
	// not on the shares: changing --missing keeps the same instance IDs.
	idRng := rand.New(rand.NewPCG(uint64(seed), 0x1d))
	rng := rand.New(rand.NewPCG(uint64(seed), 0xf1ee7))
	n := f.Size

	// Exact-ish assignment: round(share × n) instances per problem, picked
	// by a seeded permutation.
	problems := make([]string, n)
	for i := range problems {
		problems[i] = ProblemHealthy
	}
	perm := rng.Perm(n)
	pos := 0
	for _, p := range []struct {
		name  string
		share float64
	}{
		{ProblemMissing, f.Missing},
		{ProblemSilent, f.Silent},
		{ProblemStopped, f.Stopped},
		{ProblemInstallFails, f.InstallFails},
		{ProblemOutdated, f.Outdated},
		{ProblemFlaky, f.Flaky},
		{ProblemManaged, f.Managed}, // new shares go last: older specs keep their instances' problems
	} {
		k := min(shareCount(p.share, n), n-pos)
		for _, i := range perm[pos : pos+k] {
			problems[i] = p.name
		}
		pos += k
	}
	vanishes := make([]bool, n)
	for _, i := range rng.Perm(n)[:shareCount(f.Vanish, n)] {
		vanishes[i] = true
	}
	osOf := assignOS(f.OSWeights, n, rng)
	// Tags come from a stream of their own, drawn only when asked for, so
	// that a spec gaining Tagged keeps every other choice it made before.
	tagged := make([]bool, n)
	if k := shareCount(f.Tagged, n); k > 0 {
		tagRng := rand.New(rand.NewPCG(uint64(seed), 0x7a9))
		for _, i := range tagRng.Perm(n)[:k] {
			tagged[i] = true
		}
	}

	// Which managed instances are offline, and since when, comes from a
	// stream of its own too, drawn only when there are managed instances:
	// a managed instance draws from rng exactly what a healthy one does, so
	// turning healthy instances into managed ones changes nothing else.
	offline := map[int]time.Time{}
	var managed []int
	for i, p := range problems {
		if p == ProblemManaged {
			managed = append(managed, i)
		}
	}
	if len(managed) > 0 {
		miRng := rand.New(rand.NewPCG(uint64(seed), 0x3a17))
		for _, k := range miRng.Perm(len(managed))[:shareCount(ManagedOfflineShare, len(managed))] {
			offline[managed[k]] = start.Add(-time.Duration(600+miRng.Int64N(3*86400)) * time.Second)
		}
	}

	window := int64((f.VanishAfterMax - f.VanishAfterMin) / time.Second)
	for i := range n {
		in := &instance{
			id:         s.newID(f.Region, idRng),
			region:     f.Region,
			zone:       f.Zones[i%len(f.Zones)],
			osType:     osOf[i],
			state:      StateRunning,
			hbInterval: time.Duration(55+5*rng.IntN(3)) * time.Second,
			createdAt:  start,
		}
		if problems[i] == ProblemManaged {
			in.managed, in.id, in.zone = true, managedID(in.id), ""
		}
		if tagged[i] {
			in.tags = map[string]string{f.TagKey: f.TagValue}
		}
		in.initialProblem = problems[i]
		phase := time.Duration(rng.Int64N(int64(in.hbInterval/time.Second))) * time.Second
		if c := rng.Int64N(50); c > 0 {
			in.invocationCount = c
			in.lastInvoked = start.Add(-time.Duration(3600+rng.Int64N(30*86400)) * time.Second)
		}
		switch problems[i] {
		case ProblemHealthy, ProblemOutdated:
			in.agentInstalled = true
			in.agentVersion = s.cfg.AgentVersion
			if problems[i] == ProblemOutdated {
				in.agentVersion = OutdatedAgentVersion
				if in.osType == OSWindows {
					in.agentVersion = OutdatedWindowsAgentVersion
				}
			}
			// A heartbeat less than one interval ago, then every interval.
			in.startBeating(start.Add(-phase))
		case ProblemManaged:
			in.agentInstalled = true
			in.agentVersion = s.cfg.AgentVersion
			if since, ok := offline[i]; ok {
				in.agentHung = true
				in.lastHB = since
			} else {
				in.startBeating(start.Add(-phase))
			}
		case ProblemMissing:
			in.invocationCount, in.lastInvoked = 0, time.Time{}
		case ProblemInstallFails:
			in.invocationCount, in.lastInvoked = 0, time.Time{}
			in.installAlwaysFails = true
		case ProblemFlaky:
			in.invocationCount, in.lastInvoked = 0, time.Time{}
			in.beatsOnce = true
		case ProblemSilent:
			in.agentInstalled = true
			in.agentVersion = s.cfg.AgentVersion
			in.agentHung = true
			// Silent for 3 minutes to 3 days.
			in.lastHB = start.Add(-time.Duration(180+rng.Int64N(3*86400)) * time.Second)
		case ProblemStopped:
			in.state = StateStopped
			in.agentInstalled = true
			in.agentVersion = s.cfg.AgentVersion
			// Stopped an hour to a week ago.
			in.lastHB = start.Add(-time.Duration(3600+rng.Int64N(7*86400)) * time.Second)
		}
		if in.state == StateRunning {
			in.bootedAt = start
		}
		if vanishes[i] {
			in.vanishes = true
			in.vanishAt = start.Add(f.VanishAfterMin + time.Duration(rng.Int64N(window+1))*time.Second)
		}
		s.addInstance(in)
	}
}

// managedID turns an ECS-shaped ID ("i-bp…") into a managed instance's
// ("mi-bp…"): unique as the ECS ID was, and of the documented prefix.
func managedID(ecsID string) string {
	return ManagedIDPrefix + strings.TrimPrefix(ecsID, "i-")
}

// ManagedIDPrefix starts every managed instance's ID.
const ManagedIDPrefix = "mi-"

// shareCount is round(share × n), clamped to [0, n].
func shareCount(share float64, n int) int {
	return max(0, min(n, int(math.Round(share*float64(n)))))
}

// assignOS gives each of n instances an OS type so the counts follow the
// weights exactly (largest remainder), in a seeded random order.
func assignOS(weights map[string]float64, n int, rng *rand.Rand) []string {
	total := 0.0
	for _, w := range weights {
		total += w
	}
	type share struct {
		os    string
		count int
		rem   float64
	}
	shares := make([]share, 0, len(weights))
	assigned := 0
	for _, os := range osTypes() { // fixed order: map iteration must not decide anything
		w, ok := weights[os]
		if !ok {
			continue
		}
		exact := w / total * float64(n)
		c := int(math.Floor(exact))
		shares = append(shares, share{os: os, count: c, rem: exact - float64(c)})
		assigned += c
	}
	order := make([]int, len(shares))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return shares[order[a]].rem > shares[order[b]].rem })
	for i := 0; assigned < n; i++ {
		shares[order[i%len(order)]].count++
		assigned++
	}
	out := make([]string, 0, n)
	for _, sh := range shares {
		for range sh.count {
			out = append(out, sh.os)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}
