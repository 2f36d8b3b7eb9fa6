package ecssim

import (
	"fmt"
	"sync"
	"time"
)

// Clock tells the simulator what time it is. All instance behaviour
// (reboots, heartbeats, vanishing) is computed lazily from Clock.Now, so a
// ManualClock makes every test deterministic and a ScaledClock lets a demo
// compress minutes of fleet life into seconds.
type Clock interface {
	Now() time.Time
}

// ScaledClock is simulated time that runs Scale times faster than real time,
// starting at a chosen simulated instant.
type ScaledClock struct {
	simStart  time.Time
	realStart time.Time // carries the monotonic reading, so wall-clock jumps do not move simulated time
	scale     float64
}

// NewScaledClock returns a clock that reads simStart now and advances scale
// simulated seconds per real second (60 means one real second is one
// simulated minute).
func NewScaledClock(simStart time.Time, scale float64) (*ScaledClock, error) {
	if !(scale > 0) {
		return nil, fmt.Errorf("ecssim: time scale must be > 0, got %v", scale)
	}
	return &ScaledClock{simStart: simStart.UTC().Round(0), realStart: time.Now(), scale: scale}, nil
}

// Now returns the current simulated time.
func (c *ScaledClock) Now() time.Time {
	elapsed := float64(time.Since(c.realStart)) * c.scale
	return c.simStart.Add(time.Duration(elapsed))
}

// Scale is the number of simulated seconds per real second.
func (c *ScaledClock) Scale() float64 { return c.scale }

// ManualClock only moves when told to. It is safe for concurrent use so a
// test can advance it while the simulator serves requests.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a clock stopped at start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start.UTC().Round(0)}
}

// Now returns the clock's current time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (a negative d is ignored: simulated
// time never runs backwards, which the lazy state machine relies on).
func (c *ManualClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return c.now
}

// Set moves the clock to t if t is later than the current time.
func (c *ManualClock) Set(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t.UTC().Round(0)
	}
	return c.now
}

// wallClock is real time; it is the default for the checks that must follow
// the caller's real clock (request Timestamp, nonce memory, throttling).
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }
