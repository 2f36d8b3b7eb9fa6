package ecssim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// maxBodyBytes bounds a form body; the SDK sends an empty one.
const maxBodyBytes = 1 << 20

// Handler returns the simulator's HTTP handler: the ECS RPC endpoint at "/"
// and the unsigned test paths under "/_sim/".
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	s.registerAdmin(mux)
	mux.HandleFunc("/", s.serveRPC)
	return mux
}

// newRequestID returns a UUID-shaped ID, unique per simulator. It mixes a
// counter instead of drawing from a shared random source so it needs no lock.
func (s *Sim) newRequestID() string {
	n := s.requestSeq.Add(1)
	a := splitmix64(s.requestSalt ^ n)
	b := splitmix64(a ^ n)
	return fmt.Sprintf("%08X-%04X-%04X-%04X-%012X",
		uint32(a>>32), uint16(a>>16), uint16(a), uint16(b>>48), b&0xFFFFFFFFFFFF)
}

func splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

// errorBody is the JSON error document of the ECS API.
type errorBody struct {
	RequestId string
	HostId    string
	Code      string
	Message   string
	Recommend string
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the real service writes "&" in Recommend URLs as is
	if err := enc.Encode(v); err != nil {
		// Every value written here is a plain struct; failing to encode one is a bug.
		http.Error(w, "ecssim: encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // the client may have gone; nothing useful to do about it
}

func writeAPIError(w http.ResponseWriter, r *http.Request, reqID string, e *apiError) {
	host := r.Host
	if host == "" {
		host = "ecs.aliyuncs.com"
	}
	w.Header().Set("x-acs-request-id", reqID)
	writeJSON(w, e.Status, errorBody{
		RequestId: reqID,
		HostId:    host,
		Code:      e.Code,
		Message:   e.Message,
		Recommend: "https://api.aliyun.com/troubleshoot?q=" + url.QueryEscape(e.Code) + "&product=Ecs&requestId=" + reqID,
	})
}

// readBody reads a request's body, bounded: the ACS3 dialect hashes it and
// a form body carries parameters.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	if len(body) > maxBodyBytes {
		return nil, fmt.Errorf("body larger than %d bytes", maxBodyBytes)
	}
	return body, nil
}

// readParams returns the query parameters merged with those of a POST's
// form body: what the action reads, in either dialect.
func readParams(r *http.Request, body []byte) (url.Values, error) {
	v := r.URL.Query()
	if r.Method != http.MethodPost || len(body) == 0 {
		return v, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		return v, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("parsing form body: %w", err)
	}
	for k, vals := range form {
		v[k] = append(v[k], vals...)
	}
	return v, nil
}

// rpcRequest is a request at the RPC endpoint decoded from its dialect:
// everything after decoding (faults, authentication's shared checks, hooks,
// the action) is one code path for both.
type rpcRequest struct {
	action string
	params url.Values
	auth   signedRequest
}

// decodeRequest finds the dialect, the action and the version, and checks
// them like the gateway does before anything else.
func decodeRequest(r *http.Request) (*rpcRequest, *apiError) {
	body, err := readBody(r)
	if err != nil {
		return nil, newAPIError(http.StatusBadRequest, "InvalidParameter", err.Error())
	}
	v, err := readParams(r, body)
	if err != nil {
		return nil, newAPIError(http.StatusBadRequest, "InvalidParameter", err.Error())
	}
	req := &rpcRequest{params: v}
	var actionName, versionName, version string
	if isACS3(r, v) {
		actionName, versionName = headerAction, headerVersion
		req.action, version = r.Header.Get(headerAction), r.Header.Get(headerVersion)
		req.auth = newACS3Request(r, body)
	} else {
		actionName, versionName = "Action", "Version"
		req.action, version = v.Get("Action"), v.Get("Version")
		req.auth = rpcV1Request{method: r.Method, params: v}
	}
	if req.action == "" {
		return nil, errMissingParameter(actionName)
	}
	if version == "" {
		return nil, errMissingParameter(versionName)
	}
	if version != APIVersion {
		return nil, newAPIError(http.StatusBadRequest, "InvalidVersion", "Specified parameter Version is not valid.")
	}
	if !isAction(req.action) {
		return nil, newAPIError(http.StatusNotFound, "InvalidAction.NotFound",
			"Specified api is not found, please check your url and method.")
	}
	return req, nil
}

// serveRPC answers one ECS RPC request: protocol checks, faults,
// authentication, then the action.
func (s *Sim) serveRPC(w http.ResponseWriter, r *http.Request) {
	reqID := s.newRequestID()
	if r.URL.Path != "/" {
		writeAPIError(w, r, reqID, newAPIError(http.StatusNotFound, "InvalidAction.NotFound",
			"Specified api is not found, please check your url and method."))
		return
	}
	// Every request at the RPC endpoint counts, refused ones too: the point
	// is to see who called, e.g. that the worker identifies itself.
	s.recordUserAgent(r.UserAgent())
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeAPIError(w, r, reqID, newAPIError(http.StatusMethodNotAllowed, "UnsupportedHTTPMethod",
			"This http method is not supported."))
		return
	}
	req, e := decodeRequest(r)
	if e != nil {
		writeAPIError(w, r, reqID, e)
		return
	}
	action, v := req.action, req.params

	ids := namedInstanceIDs(action, v)
	s.mu.Lock()
	st := s.actionStats[action]
	st.Calls++
	st.MaxInstanceIDs = max(st.MaxInstanceIDs, len(ids))
	if action == ActionDescribeInstances || action == ActionDescribeInstanceStatus {
		for _, id := range dedupe(ids) {
			if in := s.byID[id]; in != nil {
				in.described++
			}
		}
	}
	fd := s.faults.decide(action, s.wall.Now())
	if fd.code != "" {
		fd.err = injectedError(fd.code, req.auth)
	}
	var omit map[string]bool
	if !fd.drop && fd.err == nil {
		omit = s.faults.omitted(action, dedupe(ids))
	}
	s.mu.Unlock()

	if fd.latency > 0 {
		t := time.NewTimer(fd.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			s.countError(action)
			return
		}
	}
	if fd.drop {
		s.countError(action)
		dropConnection(w)
		return
	}
	if fd.err != nil {
		s.countError(action)
		writeAPIError(w, r, reqID, fd.err)
		return
	}
	if e := s.authenticate(action, s.regionNamed(action, v), req.auth); e != nil {
		s.countError(action)
		writeAPIError(w, r, reqID, e)
		return
	}
	if code := s.fireHooks(action, v); code != "" {
		// Like an injected fault: an error of the call, not a refusal of
		// the instances it names.
		s.countError(action)
		writeAPIError(w, r, reqID, injectedError(code, req.auth))
		return
	}
	resp, e := s.dispatch(action, &call{reqID: reqID, v: v, omit: omit})
	if e != nil {
		s.countError(action)
		if e.Code != "DryRunOperation" {
			s.countRefusals(action, ids)
		}
		writeAPIError(w, r, reqID, e)
		return
	}
	w.Header().Set("x-acs-request-id", reqID)
	// The answer's Date is the service's clock, as ECS's is: with the
	// time scaled, it is the simulated time. Clients compare it with
	// times the API reports (e.g. DescribeInstances' StartTime).
	w.Header().Set("Date", s.clock.Now().UTC().Format(http.TimeFormat))
	writeJSON(w, http.StatusOK, resp)
}

func (s *Sim) countError(action string) {
	s.mu.Lock()
	s.actionStats[action].Errors++
	s.mu.Unlock()
}

// countRefusals records, on every instance a refused install or reboot call
// named, that it was refused.
func (s *Sim) countRefusals(action string, ids []string) {
	if action != ActionInstallCloudAssistant && action != ActionRebootInstance && action != ActionRebootInstances {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		in := s.byID[id]
		if in == nil || seen[id] {
			continue
		}
		seen[id] = true
		if action == ActionInstallCloudAssistant {
			in.refusedInstalls++
		} else {
			in.refusedReboots++
		}
	}
}

// dropConnection closes the connection without writing a response, which
// the client sees as a transport error (EOF / connection reset).
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close() // the point is to close it; an error changes nothing
			return
		}
	}
	// Not hijackable (HTTP/2): abort the handler, which resets the stream.
	panic(http.ErrAbortHandler)
}

// call is one authenticated request on its way to its action.
type call struct {
	reqID  string
	region string
	v      url.Values
	// omit are the named instances the omit fault leaves out of the answer.
	omit map[string]bool
}

// regionNamed is the region a request is about, for the permission check:
// its RegionId, or the instance's region for a RebootInstance without one
// ("" for a DescribeRegions without one: it is about the account).
func (s *Sim) regionNamed(action string, v url.Values) string {
	if r := v.Get("RegionId"); r != "" || action != ActionRebootInstance {
		return r
	}
	return s.regionOfInstance(v.Get("InstanceId"))
}

// dispatch checks the region and runs the action.
func (s *Sim) dispatch(action string, c *call) (any, *apiError) {
	c.region = c.v.Get("RegionId")
	if c.region == "" && action == ActionRebootInstance {
		c.region = s.regionOfInstance(c.v.Get("InstanceId"))
	}
	if action == ActionDescribeRegions {
		// The account's regions, asked at any regional endpoint: RegionId is
		// optional (the V2 SDK sends none), but one given must exist.
		if c.region != "" && !s.knownRegion(c.region) {
			return nil, errInvalidRegion()
		}
		return s.describeRegions(c.reqID, c.v)
	}
	if c.region == "" {
		return nil, errMissingParameter("RegionId")
	}
	if !s.knownRegion(c.region) {
		return nil, errInvalidRegion()
	}
	reqID, region, v := c.reqID, c.region, c.v
	switch action {
	case ActionDescribeInstanceStatus:
		s.churnBefore(action, c)
		return s.describeInstanceStatus(reqID, region, v, c.omit)
	case ActionDescribeCloudAssistantStatus:
		for _, r := range s.cfg.ApiNotSupportedRegions {
			if r == region {
				return nil, errRegionAPINotSupported()
			}
		}
		s.churnBefore(action, c)
		return s.describeCloudAssistantStatus(reqID, region, v, c.omit)
	case ActionDescribeInstances:
		s.churnBefore(action, c)
		return s.describeInstances(c)
	case ActionInstallCloudAssistant:
		return s.installCloudAssistant(reqID, region, v)
	case ActionRebootInstance:
		return s.rebootInstance(reqID, region, v)
	case ActionRebootInstances:
		return s.rebootInstances(reqID, region, v)
	}
	return nil, newAPIError(http.StatusNotFound, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
}

// regionOfInstance stands in for the regional endpoint of a RebootInstance
// without RegionId. The API has no RegionId for it: the V1 SDK sends its
// client's region anyway, the V2 SDK sends none, and real ECS knows the
// region from the endpoint called. The simulator serves every region at
// one endpoint, so the instance's own region is the one meant. An unknown
// instance gets the first region, where the action answers it as unknown.
func (s *Sim) regionOfInstance(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in := s.byID[id]; in != nil {
		return in.region
	}
	return s.cfg.Regions[0]
}

// namedInstanceIDs returns the instance IDs a request names in the parameter
// its action reads: InstanceId for RebootInstance, the InstanceIds JSON
// array for DescribeInstances (none if malformed: the action refuses it),
// InstanceId.N for the others.
func namedInstanceIDs(action string, v url.Values) []string {
	switch action {
	case ActionRebootInstance:
		if id := v.Get("InstanceId"); id != "" {
			return []string{id}
		}
		return nil
	case ActionDescribeInstances:
		ids, _, _ := instanceIDsJSON(v)
		return ids
	}
	return instanceIDParams(v)
}

// instanceIDParams returns the values of InstanceId.1, InstanceId.2, … in
// index order. Empty values are skipped, like a service that trims its input.
func instanceIDParams(v url.Values) []string {
	type indexed struct {
		n  int
		id string
	}
	var found []indexed
	for k, vals := range v {
		rest, ok := strings.CutPrefix(k, "InstanceId.")
		if !ok || len(vals) == 0 || vals[0] == "" {
			continue
		}
		n, ok := atoiPositive(rest)
		if !ok {
			continue
		}
		found = append(found, indexed{n, vals[0]})
	}
	slices.SortFunc(found, func(a, b indexed) int { return cmp.Compare(a.n, b.n) })
	ids := make([]string, len(found))
	for i, f := range found {
		ids[i] = f.id
	}
	return ids
}

func atoiPositive(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= 1
}
