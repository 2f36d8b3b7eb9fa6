package ecssim

import (
	"encoding/base64"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Limits of the documented actions.
const (
	maxDescribeIDs       = 100
	maxInstallIDs        = 20
	maxRebootIDs         = 100
	maxPageSize          = 50
	defaultPageSize      = 10
	maxMaxResults        = 50
	defaultMaxResults    = 10
	batchAllTogether     = "AllTogether"
	batchSuccessFirst    = "SuccessFirst"
	rebootSuccessCode    = "200"
	rebootSuccessMessage = "success"
)

// intParam parses an optional integer parameter; ok is false if it is
// present but not an integer.
func intParam(v url.Values, name string, def int64) (n int64, ok bool) {
	s := v.Get(name)
	if s == "" {
		return def, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func boolParam(v url.Values, name string) (bool, *apiError) {
	switch strings.ToLower(v.Get(name)) {
	case "":
		return false, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errInvalidParameter(name)
}

// pageParams validates PageNumber and PageSize (1..50, default 10).
func pageParams(v url.Values) (number, size int64, e *apiError) {
	number, ok := intParam(v, "PageNumber", 1)
	if !ok || number < 1 {
		return 0, 0, errInvalidPageNumber()
	}
	size, ok = intParam(v, "PageSize", defaultPageSize)
	if !ok || size < 1 || size > maxPageSize {
		return 0, 0, errInvalidPageSize()
	}
	return number, size, nil
}

// page cuts page number of the given size out of n items.
func page(n int, number, size int64) (from, to int) {
	if number-1 > int64(n)/size {
		return n, n
	}
	from = int((number - 1) * size)
	if from > n {
		return n, n
	}
	return from, min(n, from+int(size))
}

func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// formatTime renders simulated time the way the API does; zero is "".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timestampLayout)
}

// ---- DescribeInstanceStatus ----

type instanceStatusJSON struct {
	InstanceId string
	Status     string
}

type describeInstanceStatusResponse struct {
	RequestId        string
	TotalCount       int
	PageNumber       int64
	PageSize         int64
	InstanceStatuses struct {
		InstanceStatus []instanceStatusJSON
	}
}

// describeInstanceStatus answers DescribeInstanceStatus; omit are named
// instances the omit fault leaves out.
func (s *Sim) describeInstanceStatus(reqID, region string, v url.Values, omit map[string]bool) (any, *apiError) {
	ids := instanceIDParams(v)
	if len(ids) > maxDescribeIDs {
		return nil, errInstanceIDsExceedLimit()
	}
	number, size, e := pageParams(v)
	if e != nil {
		return nil, e
	}
	zone, cluster := v.Get("ZoneId"), v.Get("ClusterId")
	matches := func(in *instance) bool {
		return (zone == "" || in.zone == zone) && (cluster == "" || in.clusterID == cluster)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var items []*instance
	if len(ids) > 0 {
		// Unknown IDs are simply left out; the rest come in listing order.
		for _, id := range dedupe(ids) {
			in := s.byID[id]
			if in == nil || in.managed || in.region != region || omit[id] {
				continue
			}
			s.advance(in, now)
			if !in.vanished && matches(in) {
				items = append(items, in)
			}
		}
		sort.Slice(items, func(i, j int) bool { return items[i].seq < items[j].seq })
	} else {
		key := listKey{region: region}
		switch {
		case cluster != "":
			key = listKey{region: region, kind: "cluster", value: cluster}
		case zone != "":
			key = listKey{region: region, kind: "zone", value: zone}
		}
		if l := s.lists[key]; l != nil {
			items = l.live()
			if cluster != "" && zone != "" {
				filtered := make([]*instance, 0, len(items))
				for _, in := range items {
					if matches(in) {
						filtered = append(filtered, in)
					}
				}
				items = filtered
			}
		}
	}
	resp := &describeInstanceStatusResponse{RequestId: reqID, TotalCount: len(items), PageNumber: number, PageSize: size}
	from, to := page(len(items), number, size)
	resp.InstanceStatuses.InstanceStatus = make([]instanceStatusJSON, 0, to-from)
	for _, in := range items[from:to] {
		s.advance(in, now)
		resp.InstanceStatuses.InstanceStatus = append(resp.InstanceStatuses.InstanceStatus,
			instanceStatusJSON{InstanceId: in.id, Status: in.state})
	}
	return resp, nil
}

// ---- DescribeCloudAssistantStatus ----

type assistantStatusJSON struct {
	InstanceId            string
	CloudAssistantStatus  string
	CloudAssistantVersion string
	LastHeartbeatTime     string
	LastInvokedTime       string
	OSType                string
	ActiveTaskCount       int64
	InvocationCount       int64
	SupportSessionManager bool
}

type describeCloudAssistantStatusResponse struct {
	RequestId                       string
	TotalCount                      int
	PageNumber                      int64
	PageSize                        int64
	NextToken                       string
	InstanceCloudAssistantStatusSet struct {
		InstanceCloudAssistantStatus []assistantStatusJSON
	}
}

func (s *Sim) assistantStatus(in *instance, now time.Time) assistantStatusJSON {
	healthy := in.healthy(now)
	st := assistantStatusJSON{
		InstanceId:           in.id,
		CloudAssistantStatus: strconv.FormatBool(healthy),
		LastHeartbeatTime:    formatTime(in.lastHeartbeat(now)),
		LastInvokedTime:      formatTime(in.lastInvoked),
		OSType:               in.osType,
		InvocationCount:      in.invocationCount,
	}
	if in.agentInstalled {
		// Documented: the version is empty unless the agent is installed and running.
		if healthy {
			st.CloudAssistantVersion = in.agentVersion
		}
		st.SupportSessionManager = supportsSessionManager(in.osType, in.agentVersion)
	}
	return st
}

// nextToken encodes where the next page starts: the creation sequence
// number of its first instance, bound to the region and OS filter. A
// sequence number rather than an offset keeps paging exact when instances
// vanish between calls.
func nextToken(region, osType string, seq uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("ecssim1|" + region + "|" + osType + "|" + strconv.FormatUint(seq, 10)))
}

func parseNextToken(tok, region, osType string) (uint64, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 4 || parts[0] != "ecssim1" || parts[1] != region || parts[2] != osType {
		return 0, false
	}
	seq, err := strconv.ParseUint(parts[3], 10, 64)
	return seq, err == nil
}

// describeCloudAssistantStatus answers DescribeCloudAssistantStatus; omit
// are named instances the omit fault leaves out (after the check that they
// all exist: an omission never hides an error).
func (s *Sim) describeCloudAssistantStatus(reqID, region string, v url.Values, omit map[string]bool) (any, *apiError) {
	ids := instanceIDParams(v)
	if len(ids) > maxDescribeIDs {
		return nil, errInstanceIDsExceedLimit()
	}
	osType := ""
	if o := v.Get("OSType"); o != "" {
		for _, known := range osTypes() {
			if strings.EqualFold(o, known) {
				osType = known
			}
		}
		if osType == "" {
			return nil, errInvalidOSType()
		}
	}
	number, size, e := pageParams(v)
	if e != nil {
		return nil, e
	}
	maxResults, ok := intParam(v, "MaxResults", defaultMaxResults)
	if !ok || maxResults < 1 || maxResults > maxMaxResults {
		return nil, errInvalidMaxResults()
	}
	token := v.Get("NextToken")
	// Documented: MaxResults or NextToken switch to token paging, where
	// PageNumber and PageSize do not apply and TotalCount is not valid.
	tokenMode := v.Get("MaxResults") != "" || token != ""

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	resp := &describeCloudAssistantStatusResponse{RequestId: reqID}
	if !tokenMode {
		resp.PageNumber, resp.PageSize = number, size
	}
	var out []assistantStatusJSON
	if len(ids) > 0 {
		// Exactly the named instances; one unknown or vanished ID fails the call.
		ids = dedupe(ids)
		found := make([]*instance, 0, len(ids))
		for _, id := range ids {
			in := s.byID[id]
			if in == nil || in.region != region {
				return nil, errInstanceNotFound()
			}
			s.advance(in, now)
			if in.vanished {
				return nil, errInstanceNotFound()
			}
			found = append(found, in)
		}
		out = make([]assistantStatusJSON, 0, len(found))
		for _, in := range found {
			if (osType == "" || in.osType == osType) && !omit[in.id] {
				out = append(out, s.assistantStatus(in, now))
			}
		}
		if !tokenMode {
			resp.TotalCount = len(out)
		}
	} else {
		key := listKey{region: region, kind: listAssistant}
		if osType != "" {
			key = listKey{region: region, kind: "os", value: osType}
		}
		var items []*instance
		if l := s.lists[key]; l != nil {
			items = l.live()
		}
		var from, to int
		if tokenMode {
			if token != "" {
				seq, ok := parseNextToken(token, region, osType)
				if !ok {
					return nil, errInvalidNextToken()
				}
				from = sort.Search(len(items), func(i int) bool { return items[i].seq >= seq })
			}
			to = min(len(items), from+int(maxResults))
			if to < len(items) {
				resp.NextToken = nextToken(region, osType, items[to].seq)
			}
		} else {
			resp.TotalCount = len(items)
			from, to = page(len(items), number, size)
		}
		out = make([]assistantStatusJSON, 0, to-from)
		for _, in := range items[from:to] {
			s.advance(in, now)
			in.listed++
			out = append(out, s.assistantStatus(in, now))
		}
	}
	resp.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus = out
	return resp, nil
}

// ---- InstallCloudAssistant ----

type requestIDResponse struct {
	RequestId string
}

// liveInRegion returns the named ECS instance if it exists, lives and is
// in region: what the installing and rebooting actions serve. A managed
// instance is not one: they answer its ID as an unknown one. Callers hold
// s.mu.
func (s *Sim) liveInRegion(id, region string, now time.Time) *instance {
	in := s.byID[id]
	if in == nil || in.managed || in.region != region {
		return nil
	}
	s.advance(in, now)
	if in.vanished {
		return nil
	}
	return in
}

func (s *Sim) installCloudAssistant(reqID, region string, v url.Values) (any, *apiError) {
	ids := instanceIDParams(v)
	if len(ids) > maxInstallIDs {
		return nil, errInstanceIDsExceedLimit()
	}
	if len(ids) == 0 {
		return nil, errMissingInstanceIDForInstall()
	}
	ids = dedupe(ids)

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	found := make([]*instance, 0, len(ids))
	for _, id := range ids {
		in := s.liveInRegion(id, region, now)
		if in == nil {
			return nil, errInstanceNotFound()
		}
		found = append(found, in)
	}
	for _, in := range found {
		if in.state != StateRunning {
			return nil, errIncorrectInstanceStatus()
		}
	}
	for _, in := range found {
		s.install(in, now)
	}
	return &requestIDResponse{RequestId: reqID}, nil
}

// ---- RebootInstance ----

func (s *Sim) rebootInstance(reqID, region string, v url.Values) (any, *apiError) {
	id := v.Get("InstanceId")
	if id == "" {
		return nil, errMissingParameter("InstanceId")
	}
	if _, e := boolParam(v, "ForceStop"); e != nil {
		return nil, e
	}
	dryRun, e := boolParam(v, "DryRun")
	if e != nil {
		return nil, e
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	in := s.liveInRegion(id, region, now)
	if in == nil {
		return nil, errInstanceIDNotFound()
	}
	if in.state != StateRunning {
		return nil, errIncorrectInstanceStatus()
	}
	if dryRun {
		return nil, errDryRun()
	}
	// ForceStop only changes how the guest is stopped; the simulated timing
	// is the same.
	s.reboot(in, now)
	return &requestIDResponse{RequestId: reqID}, nil
}

// ---- RebootInstances ----

type instanceResponseJSON struct {
	InstanceId     string
	Code           string
	Message        string
	PreviousStatus string
	CurrentStatus  string
}

type rebootInstancesResponse struct {
	RequestId         string
	InstanceResponses struct {
		InstanceResponse []instanceResponseJSON
	}
}

func (s *Sim) rebootInstances(reqID, region string, v url.Values) (any, *apiError) {
	ids := instanceIDParams(v)
	if len(ids) > maxRebootIDs {
		return nil, errInstanceIDsExceedLimit()
	}
	if len(ids) == 0 {
		return nil, errMissingParameter("InstanceId.1")
	}
	batch := v.Get("BatchOptimization")
	switch batch {
	case "":
		batch = batchAllTogether
	case batchAllTogether, batchSuccessFirst:
	default:
		return nil, errInvalidBatchOptimization()
	}
	if _, e := boolParam(v, "ForceReboot"); e != nil {
		return nil, e
	}
	dryRun, e := boolParam(v, "DryRun")
	if e != nil {
		return nil, e
	}
	ids = dedupe(ids)

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	type checked struct {
		id  string
		in  *instance
		err *apiError
	}
	checks := make([]checked, len(ids))
	for i, id := range ids {
		c := checked{id: id, in: s.liveInRegion(id, region, now)}
		switch {
		case c.in == nil:
			c.err = errInstanceIDNotFound()
		case c.in.state != StateRunning:
			c.err = errIncorrectInstanceStatus()
		}
		checks[i] = c
	}
	if batch == batchAllTogether {
		for _, c := range checks {
			if c.err != nil {
				return nil, c.err
			}
		}
	}
	if dryRun {
		return nil, errDryRun()
	}
	resp := &rebootInstancesResponse{RequestId: reqID}
	out := make([]instanceResponseJSON, 0, len(checks))
	for _, c := range checks {
		r := instanceResponseJSON{InstanceId: c.id}
		if c.err != nil {
			// SuccessFirst: this instance failed on its own, the rest go on.
			r.Code, r.Message = c.err.Code, c.err.Message
			if c.in != nil {
				r.PreviousStatus, r.CurrentStatus = c.in.state, c.in.state
			}
			if in := s.byID[c.id]; in != nil {
				in.refusedReboots++
			}
		} else {
			prev := c.in.state
			s.reboot(c.in, now)
			r.Code, r.Message = rebootSuccessCode, rebootSuccessMessage
			r.PreviousStatus, r.CurrentStatus = prev, c.in.state
		}
		out = append(out, r)
	}
	resp.InstanceResponses.InstanceResponse = out
	return resp, nil
}
