package ecssim

import (
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// Limits of DescribeInstances, which differ from the older listing calls:
// pages of up to 100, and InstanceIds as one JSON array of up to 100 IDs.
const (
	maxInstancesPageSize = 100
	maxInstanceIdsJSON   = 100
	maxTagFilters        = 20
	// instancesTokenScope binds a DescribeInstances NextToken to this action,
	// so a DescribeCloudAssistantStatus token is refused here and vice versa.
	instancesTokenScope = "DescribeInstances"
	// creationTimeLayout is how DescribeInstances writes CreationTime and
	// StartTime: to the minute.
	creationTimeLayout = "2006-01-02T15:04Z"
)

// instanceIDsJSON reads DescribeInstances' InstanceIds, a JSON array of
// strings. present is false when the parameter was not sent (the SDK omits
// an empty string); an empty array is present and selects nothing, as
// documented.
func instanceIDsJSON(v url.Values) (ids []string, present bool, e *apiError) {
	raw := v.Get("InstanceIds")
	if raw == "" {
		return nil, false, nil
	}
	var list []string
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		return nil, true, errInvalidInstanceIdsMalformed()
	}
	ids = make([]string, 0, len(list))
	for _, id := range list {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	return ids, true, nil
}

// tagFilters reads Tag.N.Key / Tag.N.Value (N 1..20; the deprecated
// lowercase Tag.N.key / Tag.N.value too). A key without a value matches any
// value of that key: the SDK never sends an empty value, so "key only" is
// the only way to ask for a key whatever its value.
func tagFilters(v url.Values) ([]tagFilter, *apiError) {
	type pair struct {
		key, value       string
		hasKey, hasValue bool
	}
	byN := map[int]*pair{}
	for k, vals := range v {
		rest, ok := strings.CutPrefix(k, "Tag.")
		if !ok || len(vals) == 0 || vals[0] == "" {
			continue
		}
		num, field, ok := strings.Cut(rest, ".")
		if !ok {
			continue
		}
		n, ok := atoiPositive(num)
		if !ok {
			continue
		}
		if n > maxTagFilters {
			return nil, errInvalidTagCount()
		}
		p := byN[n]
		if p == nil {
			p = &pair{}
			byN[n] = p
		}
		switch field {
		case "Key", "key":
			p.key, p.hasKey = vals[0], true
		case "Value", "value":
			p.value, p.hasValue = vals[0], true
		}
	}
	out := make([]tagFilter, 0, len(byN))
	for _, n := range slices.Sorted(maps.Keys(byN)) {
		p := byN[n]
		if !p.hasKey {
			return nil, errInvalidTagMismatch()
		}
		out = append(out, tagFilter{key: p.key, value: p.value, anyValue: !p.hasValue})
	}
	return out, nil
}

type tagJSON struct {
	TagKey   string
	TagValue string
}

// instanceJSON is the part of DescribeInstances' Instance that the
// simulator models; the SDK leaves the other fields at their zero values.
type instanceJSON struct {
	InstanceId   string
	InstanceName string
	HostName     string
	RegionId     string
	ZoneId       string
	Status       string
	OSType       string // lowercase, as DescribeInstances writes it
	OSName       string
	OSNameEn     string
	CreationTime string
	StartTime    string
	ClusterId    string
	Tags         struct {
		Tag []tagJSON
	}
}

type describeInstancesResponse struct {
	RequestId  string
	TotalCount int
	PageNumber int64
	PageSize   int64
	NextToken  string
	Instances  struct {
		Instance []instanceJSON
	}
}

// osNames are plausible OSName / OSNameEn values per OS type: the public
// images ECS would most likely have booted.
func osNames(osType string) (name, nameEn string) {
	switch osType {
	case OSWindows:
		return "Windows Server  2022 数据中心版 64位中文版", "Windows Server  2022 Datacenter Edition 64bit Chinese Edition"
	case OSFreeBSD:
		return "FreeBSD  13.1 64位", "FreeBSD  13.1 64 bit"
	}
	return "Alibaba Cloud Linux  3.2104 LTS 64位", "Alibaba Cloud Linux  3.2104 LTS 64 bit"
}

func formatMinute(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(creationTimeLayout)
}

func (s *Sim) instanceJSON(in *instance) instanceJSON {
	name, nameEn := osNames(in.osType)
	out := instanceJSON{
		InstanceId: in.id, InstanceName: in.id, HostName: in.id, RegionId: in.region, ZoneId: in.zone,
		Status: in.state, OSType: strings.ToLower(in.osType), OSName: name, OSNameEn: nameEn,
		CreationTime: formatMinute(in.createdAt), ClusterId: in.clusterID,
	}
	if in.state == StateRunning {
		out.StartTime = formatMinute(in.bootedAt)
	}
	out.Tags.Tag = make([]tagJSON, 0, len(in.tags))
	for _, k := range slices.Sorted(maps.Keys(in.tags)) {
		out.Tags.Tag = append(out.Tags.Tag, tagJSON{TagKey: k, TagValue: in.tags[k]})
	}
	return out
}

func (s *Sim) describeInstances(c *call) (any, *apiError) {
	v := c.v
	ids, byID, e := instanceIDsJSON(v)
	if e != nil {
		return nil, e
	}
	if len(ids) > maxInstanceIdsJSON {
		return nil, errTooManyInstanceIds()
	}
	tags, e := tagFilters(v)
	if e != nil {
		return nil, e
	}
	status := v.Get("Status")
	if status != "" && !validState(status) {
		return nil, errInvalidStatus()
	}
	zone := v.Get("ZoneId")
	number, ok := intParam(v, "PageNumber", 1)
	if !ok || number < 1 {
		return nil, errInvalidPageNumber()
	}
	size, ok := intParam(v, "PageSize", defaultPageSize)
	if !ok || size < 1 || size > maxInstancesPageSize {
		return nil, errInvalidPageSize()
	}
	maxResults, ok := intParam(v, "MaxResults", defaultMaxResults)
	if !ok || maxResults < 1 || maxResults > maxInstancesPageSize {
		return nil, errInvalidMaxResults()
	}
	dryRun, e := boolParam(v, "DryRun")
	if e != nil {
		return nil, e
	}
	if dryRun {
		return nil, errDryRun()
	}
	token := v.Get("NextToken")
	// As for DescribeCloudAssistantStatus: MaxResults or NextToken switch to
	// token paging, where PageNumber, PageSize and TotalCount do not apply.
	tokenMode := v.Get("MaxResults") != "" || token != ""
	var cursor uint64
	if token != "" {
		seq, ok := parseNextToken(token, c.region, instancesTokenScope)
		if !ok {
			return nil, errInvalidNextToken()
		}
		cursor = seq
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	matches := func(in *instance) bool {
		s.advance(in, now)
		return !in.vanished && (zone == "" || in.zone == zone) && (status == "" || in.state == status) && in.hasTags(tags)
	}
	// items is in creation order; filtered says whether every item already
	// passed matches, so the paging below need not look at it again.
	var items []*instance
	filtered := false
	if byID {
		// Unknown, vanished and foreign IDs are simply absent, as in
		// DescribeInstanceStatus; an empty array selects nothing.
		for _, id := range dedupe(ids) {
			if in := s.byID[id]; in != nil && !in.managed && in.region == c.region && !c.omit[id] && matches(in) {
				items = append(items, in)
			}
		}
		sort.Slice(items, func(i, j int) bool { return items[i].seq < items[j].seq })
		filtered = true
	} else {
		key := listKey{region: c.region}
		if zone != "" {
			key = listKey{region: c.region, kind: "zone", value: zone}
		}
		if l := s.lists[key]; l != nil {
			items = l.live()
		}
		// Only Status and tags need a look at each instance; without them the
		// listing is the answer and a page costs O(page).
		filtered = status == "" && len(tags) == 0
	}

	resp := &describeInstancesResponse{RequestId: c.reqID}
	var answer []*instance
	if tokenMode {
		from := sort.Search(len(items), func(i int) bool { return items[i].seq >= cursor })
		i := from
		for ; i < len(items) && len(answer) < int(maxResults); i++ {
			if filtered || matches(items[i]) {
				answer = append(answer, items[i])
			}
		}
		// The token names the next match, not merely the next instance, so
		// the last page says it is the last.
		for ; i < len(items); i++ {
			if filtered || matches(items[i]) {
				resp.NextToken = nextToken(c.region, instancesTokenScope, items[i].seq)
				break
			}
		}
	} else {
		if !filtered {
			kept := make([]*instance, 0, len(items))
			for _, in := range items {
				if matches(in) {
					kept = append(kept, in)
				}
			}
			items = kept
		}
		resp.TotalCount, resp.PageNumber, resp.PageSize = len(items), number, size
		from, to := page(len(items), number, size)
		answer = items[from:to]
	}
	resp.Instances.Instance = make([]instanceJSON, 0, len(answer))
	for _, in := range answer {
		s.advance(in, now)
		resp.Instances.Instance = append(resp.Instances.Instance, s.instanceJSON(in))
	}
	return resp, nil
}
