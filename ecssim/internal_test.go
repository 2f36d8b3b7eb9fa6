package ecssim

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPercentEncode(t *testing.T) {
	for in, want := range map[string]string{
		"abcXYZ019-_.~": "abcXYZ019-_.~", // unreserved stay as they are
		"a b":           "a%20b",
		"a*b":           "a%2Ab",
		"a+b":           "a%2Bb",
		"/":             "%2F",
		"=&":            "%3D%26",
		"é":             "%C3%A9",
		"":              "",
	} {
		assert.Equal(t, want, percentEncode(in), "%q", in)
	}
}

func TestStringToSignIncludesEmptyValuesSorted(t *testing.T) {
	v := url.Values{
		"Signature":     {"ignored"},
		"SignatureType": {""},
		"Action":        {"X"},
		"B":             {"a b"},
	}
	assert.Equal(t, "POST&%2F&Action%3DX%26B%3Da%2520b%26SignatureType%3D", StringToSign("POST", v))
}

func TestNonceCacheForgetsAfterWindowAndStaysBounded(t *testing.T) {
	c := newNonceCache(100)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	require.True(t, c.use("a", t0))
	require.False(t, c.use("a", t0.Add(NonceWindow)), "remembered for the whole window")
	require.True(t, c.use("a", t0.Add(NonceWindow+time.Second)), "forgotten after it")

	// A steady stream: memory holds at most one window's worth.
	for i := range 10_000 {
		c.use(string(rune('A'+i%26))+time.Duration(i).String(), t0.Add(time.Hour+time.Duration(i)*time.Second))
		require.LessOrEqual(t, c.size(), 100)
	}
	require.LessOrEqual(t, len(c.queue), 2*100+1, "the queue is compacted")

	// With a generous cap, the window is what bounds memory.
	c = newNonceCache(1_000_000)
	for i := range 5000 {
		c.use(time.Duration(i).String(), t0.Add(time.Duration(i)*time.Second))
	}
	assert.Equal(t, int(NonceWindow/time.Second)+1, c.size())
}

func TestPage(t *testing.T) {
	for _, tc := range []struct {
		n            int
		number, size int64
		from, to     int
	}{
		{0, 1, 10, 0, 0},
		{25, 1, 10, 0, 10},
		{25, 3, 10, 20, 25},
		{25, 4, 10, 25, 25},
		{25, 1 << 62, 50, 25, 25}, // no overflow
		{50, 1, 50, 0, 50},
		{50, 2, 50, 50, 50},
	} {
		from, to := page(tc.n, tc.number, tc.size)
		assert.Equal(t, [2]int{tc.from, tc.to}, [2]int{from, to}, "%+v", tc)
	}
}

func TestNextTokenRoundTrip(t *testing.T) {
	tok := nextToken("cn-hangzhou", "Linux", 42)
	seq, ok := parseNextToken(tok, "cn-hangzhou", "Linux")
	require.True(t, ok)
	assert.EqualValues(t, 42, seq)
	for _, bad := range []string{"", "!!!", tok + "x"} {
		_, ok := parseNextToken(bad, "cn-hangzhou", "Linux")
		assert.False(t, ok, bad)
	}
	_, ok = parseNextToken(tok, "cn-shanghai", "Linux")
	assert.False(t, ok, "bound to the region")
}

func TestOrderedListCompactsLazily(t *testing.T) {
	var l orderedList
	ins := make([]*instance, 5)
	for i := range ins {
		ins[i] = &instance{id: string(rune('a' + i)), lists: nil}
		l.items = append(l.items, ins[i])
	}
	for _, in := range ins {
		in.lists = []*orderedList{&l}
	}
	s := &Sim{}
	s.markVanished(ins[1], time.Time{})
	s.markVanished(ins[3], time.Time{})
	assert.Len(t, l.items, 5, "vanishing costs O(1)")
	live := l.live()
	require.Len(t, live, 3)
	assert.Equal(t, []string{"a", "c", "e"}, []string{live[0].id, live[1].id, live[2].id})
	assert.Zero(t, l.dead)
}

func TestFaultDecisionsDeterministic(t *testing.T) {
	now := time.Now()
	draw := func() []faultDecision {
		fs := newFaultState(Faults{ErrorRate: 0.5, DropRate: 0.2}, 99, now)
		out := make([]faultDecision, 50)
		for i := range out {
			out[i] = fs.decide(ActionRebootInstances, now)
		}
		return out
	}
	assert.Equal(t, draw(), draw())
}

func TestOccupancyCountsOverlaps(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var o occupancy
	for _, s := range []int{0, 10, 20} {
		o.add(at(s), at(s+30))
	}
	assert.Equal(t, 3, o.max)
	o.add(at(30), at(60)) // the reboot from 0 ended at 30: still 3
	assert.Equal(t, 3, o.max)
	assert.Len(t, o.ends, 3)
	o.add(at(30), at(60))
	assert.Equal(t, 4, o.max, "two starting at the same moment overlap")
	o.add(at(1000), at(1030))
	assert.Len(t, o.ends, 1, "ended reboots are dropped")
	assert.Equal(t, 4, o.max)
}
