package ecssim

import (
	"container/heap"
	"time"
)

// occupancy measures a blast radius: how many reboots are in progress at
// once, where a reboot started at t occupies [t, t+StopDuration+StartDuration),
// the time from the call to Running again. It keeps a min-heap of the end
// times of the reboots in progress, so recording one costs O(log n) and
// the maximum only needs looking at when a reboot starts (the only moment
// the count can grow).
type occupancy struct {
	ends timeHeap
	max  int
}

// add records a reboot occupying [start, end). Starts never go back in
// time (the simulated clock is monotonic), so the heap's ended entries can
// be dropped for good.
func (o *occupancy) add(start, end time.Time) {
	for len(o.ends) > 0 && !o.ends[0].After(start) {
		heap.Pop(&o.ends)
	}
	heap.Push(&o.ends, end)
	o.max = max(o.max, len(o.ends))
}

// timeHeap is a min-heap of times.
type timeHeap []time.Time

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *timeHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	*h = old[:n-1]
	return t
}

// recordRebootOccupancy adds a reboot of in starting at now to the
// fleet-wide and per-zone occupancy. Callers hold s.mu.
func (s *Sim) recordRebootOccupancy(in *instance, now time.Time) {
	end := now.Add(s.cfg.StopDuration + s.cfg.StartDuration)
	s.rebooting.add(now, end)
	if s.rebootingByZone == nil {
		s.rebootingByZone = make(map[string]*occupancy)
	}
	z := s.rebootingByZone[in.zone]
	if z == nil {
		z = &occupancy{}
		s.rebootingByZone[in.zone] = z
	}
	z.add(now, end)
}
