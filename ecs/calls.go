package ecs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
)

// Action names, as on the wire.
const (
	ActionDescribeInstanceStatus       = "DescribeInstanceStatus"
	ActionDescribeCloudAssistantStatus = "DescribeCloudAssistantStatus"
	ActionDescribeInstances            = "DescribeInstances"
	ActionInstallCloudAssistant        = "InstallCloudAssistant"
	ActionRebootInstance               = "RebootInstance"
	ActionRebootInstances              = "RebootInstances"
	ActionDescribeRegions              = "DescribeRegions"
)

// ActionsFleetmendCalls are the actions fleetmend's workflows and worker
// call: the RAM policy (deploy/ram-policy.json) grants exactly these, the
// tests hold both to it. RebootInstance (one instance) is in the client
// but unused. DescribeRegions is what a fleet run over every region and a
// worker with --regions all ask first.
func ActionsFleetmendCalls() []string {
	return []string{ActionDescribeCloudAssistantStatus, ActionDescribeInstanceStatus, ActionDescribeInstances,
		ActionDescribeRegions, ActionInstallCloudAssistant, ActionRebootInstances}
}

// ReadOnlyActions are the actions among them that change nothing: all a
// worker that only serves dry runs needs.
func ReadOnlyActions() []string {
	return []string{ActionDescribeCloudAssistantStatus, ActionDescribeInstanceStatus, ActionDescribeInstances, ActionDescribeRegions}
}

// ListInput selects one page of DescribeInstanceStatus.
type ListInput struct {
	PageNumber  int      // from 1 (0 means 1)
	PageSize    int      // 1..50 (0 means 50)
	ZoneID      string   // optional
	ClusterID   string   // optional
	InstanceIDs []string // optional, up to 100: only these instances
}

// ListInstanceStatus reads one page of DescribeInstanceStatus.
func (c *Client) ListInstanceStatus(ctx context.Context, in ListInput) (InstancePage, error) {
	const action = ActionDescribeInstanceStatus
	if in.PageNumber == 0 {
		in.PageNumber = 1
	}
	if in.PageSize == 0 {
		in.PageSize = MaxPageSize
	}
	if err := checkRange("PageNumber", in.PageNumber, 1, 1<<31-1); err != nil {
		return InstancePage{}, wrap(action, err)
	}
	if err := checkRange("PageSize", in.PageSize, 1, MaxPageSize); err != nil {
		return InstancePage{}, wrap(action, err)
	}
	if len(in.InstanceIDs) > 0 {
		if err := checkIDs(in.InstanceIDs, 1, MaxDescribeIDs); err != nil {
			return InstancePage{}, wrap(action, err)
		}
	}
	req := sdkecs.CreateDescribeInstanceStatusRequest()
	c.prepare(req.RpcRequest)
	req.PageNumber = requests.NewInteger(in.PageNumber)
	req.PageSize = requests.NewInteger(in.PageSize)
	req.ZoneId = in.ZoneID
	req.ClusterId = in.ClusterID
	if len(in.InstanceIDs) > 0 {
		ids := append([]string(nil), in.InstanceIDs...)
		req.InstanceId = &ids
	}
	var resp *sdkecs.DescribeInstanceStatusResponse
	err := c.do(ctx, action, func(sc *sdkecs.Client) (err error) {
		resp, err = sc.DescribeInstanceStatus(req)
		return err
	})
	if err != nil {
		return InstancePage{}, err
	}
	page := InstancePage{
		TotalCount: resp.TotalCount,
		PageNumber: resp.PageNumber,
		PageSize:   resp.PageSize,
		RequestID:  resp.RequestId,
		Instances:  make([]InstanceStatus, 0, len(resp.InstanceStatuses.InstanceStatus)),
	}
	for _, s := range resp.InstanceStatuses.InstanceStatus {
		page.Instances = append(page.Instances, InstanceStatus{InstanceID: s.InstanceId, State: ParseState(s.Status)})
	}
	return page, nil
}

// AgentStatus asks DescribeCloudAssistantStatus about 1..100 instances.
// osType ("" for any, or Linux/Windows/FreeBSD) filters the answer. Any
// unknown instance fails the whole call with an InstanceLevel error.
func (c *Client) AgentStatus(ctx context.Context, ids []string, osType string) ([]AgentStatus, error) {
	const action = ActionDescribeCloudAssistantStatus
	if err := checkIDs(ids, 1, MaxAgentStatusIDs); err != nil {
		return nil, wrap(action, err)
	}
	if err := checkOSType(osType); err != nil {
		return nil, wrap(action, err)
	}
	req := sdkecs.CreateDescribeCloudAssistantStatusRequest()
	c.prepare(req.RpcRequest)
	list := append([]string(nil), ids...)
	req.InstanceId = &list
	req.OSType = osType
	var resp *sdkecs.DescribeCloudAssistantStatusResponse
	err := c.do(ctx, action, func(sc *sdkecs.Client) (err error) {
		resp, err = sc.DescribeCloudAssistantStatus(req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return agentStatuses(resp), nil
}

// AgentPageInput selects one NextToken page of DescribeCloudAssistantStatus
// over the whole region.
type AgentPageInput struct {
	NextToken  string // "" for the first page
	MaxResults int    // 1..50 (0 means 50)
	OSType     string // optional filter
}

// AgentStatusPage reads one NextToken page of agent status for the region.
func (c *Client) AgentStatusPage(ctx context.Context, in AgentPageInput) (AgentPage, error) {
	const action = ActionDescribeCloudAssistantStatus
	if in.MaxResults == 0 {
		in.MaxResults = MaxPageSize
	}
	if err := checkRange("MaxResults", in.MaxResults, 1, MaxPageSize); err != nil {
		return AgentPage{}, wrap(action, err)
	}
	if err := checkOSType(in.OSType); err != nil {
		return AgentPage{}, wrap(action, err)
	}
	req := sdkecs.CreateDescribeCloudAssistantStatusRequest()
	c.prepare(req.RpcRequest)
	req.MaxResults = requests.NewInteger(in.MaxResults)
	req.NextToken = in.NextToken
	req.OSType = in.OSType
	var resp *sdkecs.DescribeCloudAssistantStatusResponse
	err := c.do(ctx, action, func(sc *sdkecs.Client) (err error) {
		resp, err = sc.DescribeCloudAssistantStatus(req)
		return err
	})
	if err != nil {
		return AgentPage{}, err
	}
	return AgentPage{Agents: agentStatuses(resp), NextToken: resp.NextToken, RequestID: resp.RequestId}, nil
}

func agentStatuses(resp *sdkecs.DescribeCloudAssistantStatusResponse) []AgentStatus {
	set := resp.InstanceCloudAssistantStatusSet.InstanceCloudAssistantStatus
	out := make([]AgentStatus, 0, len(set))
	for _, s := range set {
		out = append(out, AgentStatus{
			InstanceID:            s.InstanceId,
			Healthy:               strings.EqualFold(s.CloudAssistantStatus, "true"),
			Version:               s.CloudAssistantVersion,
			LastHeartbeat:         parseTime(s.LastHeartbeatTime),
			LastInvoked:           parseTime(s.LastInvokedTime),
			OSType:                s.OSType,
			SupportSessionManager: s.SupportSessionManager,
			ActiveTaskCount:       s.ActiveTaskCount,
			InvocationCount:       s.InvocationCount,
		})
	}
	return out
}

// DescribeInstances asks DescribeInstances about 1..100 instances by ID and
// returns them in the order ECS answers. Unknown or deleted instances are
// simply absent (no error), and so may be instances ECS did not answer for:
// a caller must treat an absent instance as unknown, never as gone.
func (c *Client) DescribeInstances(ctx context.Context, ids []string) ([]InstanceInfo, error) {
	const action = ActionDescribeInstances
	err := checkIDList("InstanceIds (number of instance IDs)", func(i int) string { return fmt.Sprintf("InstanceIds[%d]", i) },
		ids, 1, MaxDescribeInstancesIDs)
	if err != nil {
		return nil, wrap(action, err)
	}
	list, err := json.Marshal(ids)
	if err != nil { // a []string always marshals; kept so a change cannot hide an error
		return nil, wrap(action, fmt.Errorf("encode InstanceIds: %w", err))
	}
	req := sdkecs.CreateDescribeInstancesRequest()
	c.prepare(req.RpcRequest)
	req.InstanceIds = string(list)
	// The default page is 10 instances even when IDs are given: ask for a
	// page as large as the ID list can be, so one call answers for all.
	req.PageNumber = requests.NewInteger(1)
	req.PageSize = requests.NewInteger(MaxDescribeInstancesIDs)
	var resp *sdkecs.DescribeInstancesResponse
	err = c.do(ctx, action, func(sc *sdkecs.Client) (err error) {
		resp, err = sc.DescribeInstances(req)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]InstanceInfo, 0, len(resp.Instances.Instance))
	var seen time.Time
	if d := resp.GetHttpHeaders()["Date"]; len(d) > 0 {
		seen, _ = http.ParseTime(d[0]) // an unreadable Date is no Date
	}
	for _, in := range resp.Instances.Instance {
		info := InstanceInfo{
			InstanceID: in.InstanceId,
			ZoneID:     in.ZoneId,
			State:      ParseState(in.Status),
			OSType:     in.OSType,
			StartTime:  parseTime(in.StartTime),
			Seen:       seen.UTC(),
		}
		if info.OSType == "" {
			info.OSType = in.OsType // the SDK struct has both spellings; ECS fills OSType
		}
		if tags := in.Tags.Tag; len(tags) > 0 {
			info.Tags = make([]Tag, 0, len(tags))
			for _, t := range tags {
				info.Tags = append(info.Tags, Tag{Key: t.TagKey, Value: t.TagValue})
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// InstallAgent calls InstallCloudAssistant for 1..20 instances and returns
// the request ID. The agent takes effect after the instance reboots. One
// unknown or non-Running instance fails the whole call (InstanceLevel).
func (c *Client) InstallAgent(ctx context.Context, ids []string) (string, error) {
	const action = ActionInstallCloudAssistant
	if err := checkIDs(ids, 1, MaxInstallIDs); err != nil {
		return "", wrap(action, err)
	}
	req := sdkecs.CreateInstallCloudAssistantRequest()
	c.prepare(req.RpcRequest)
	list := append([]string(nil), ids...)
	req.InstanceId = &list
	var resp *sdkecs.InstallCloudAssistantResponse
	err := c.do(ctx, action, func(sc *sdkecs.Client) (err error) {
		resp, err = sc.InstallCloudAssistant(req)
		return err
	})
	if err != nil {
		return "", err
	}
	return resp.RequestId, nil
}

// RebootInstance reboots one Running instance.
func (c *Client) RebootInstance(ctx context.Context, id string, forceStop bool) (string, error) {
	const action = ActionRebootInstance
	if err := checkIDs([]string{id}, 1, 1); err != nil {
		return "", wrap(action, err)
	}
	req := sdkecs.CreateRebootInstanceRequest()
	c.prepare(req.RpcRequest)
	req.InstanceId = id
	req.ForceStop = requests.NewBoolean(forceStop)
	var resp *sdkecs.RebootInstanceResponse
	err := c.do(ctx, action, func(sc *sdkecs.Client) (err error) {
		resp, err = sc.RebootInstance(req)
		return err
	})
	if err != nil {
		return "", err
	}
	return resp.RequestId, nil
}

// RebootInstances reboots 1..100 instances with BatchOptimization
// SuccessFirst, so that one instance that cannot be rebooted does not stop
// the others: every instance gets its own RebootResult.
func (c *Client) RebootInstances(ctx context.Context, ids []string, forceReboot bool) ([]RebootResult, error) {
	const action = ActionRebootInstances
	if err := checkIDs(ids, 1, MaxRebootIDs); err != nil {
		return nil, wrap(action, err)
	}
	req := sdkecs.CreateRebootInstancesRequest()
	c.prepare(req.RpcRequest)
	list := append([]string(nil), ids...)
	req.InstanceId = &list
	req.ForceReboot = requests.NewBoolean(forceReboot)
	req.BatchOptimization = "SuccessFirst"
	var resp *sdkecs.RebootInstancesResponse
	err := c.do(ctx, action, func(sc *sdkecs.Client) (err error) {
		resp, err = sc.RebootInstances(req)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]RebootResult, 0, len(resp.InstanceResponses.InstanceResponse))
	for _, r := range resp.InstanceResponses.InstanceResponse {
		res := RebootResult{
			InstanceID: r.InstanceId,
			Code:       r.Code,
			Message:    r.Message,
			Previous:   parseOptionalState(r.PreviousStatus),
			Current:    parseOptionalState(r.CurrentStatus),
		}
		res.OK = r.Code == "200" || strings.EqualFold(r.Code, "success")
		if !res.OK {
			res.Class = ClassifyCode(r.Code, 0)
		}
		out = append(out, res)
	}
	return out, nil
}

func parseOptionalState(s string) InstanceState {
	if s == "" {
		return ""
	}
	return ParseState(s)
}

func checkRange(param string, got, lo, hi int) error {
	if got < lo || got > hi {
		return &LimitError{Param: param, Got: got, Min: lo, Max: hi}
	}
	return nil
}

// checkIDs enforces a documented list length and rejects empty or repeated
// IDs, which the service would reject or double count.
func checkIDs(ids []string, lo, hi int) error {
	return checkIDList("InstanceId.N (number of instance IDs)", func(i int) string { return fmt.Sprintf("InstanceId.%d", i+1) }, ids, lo, hi)
}

// checkIDList is checkIDs for any parameter: count names the list in a
// LimitError, element names its i-th entry in an InputError.
func checkIDList(count string, element func(i int) string, ids []string, lo, hi int) error {
	if err := checkRange(count, len(ids), lo, hi); err != nil {
		return err
	}
	seen := make(map[string]struct{}, len(ids))
	for i, id := range ids {
		if strings.TrimSpace(id) == "" {
			return &InputError{Param: element(i), Reason: "is empty"}
		}
		if _, dup := seen[id]; dup {
			return &InputError{Param: element(i), Reason: "repeats " + id + "; each instance may appear once"}
		}
		seen[id] = struct{}{}
	}
	return nil
}

func checkOSType(os string) error {
	switch os {
	case "", OSLinux, OSWindows, OSFreeBSD:
		return nil
	}
	return &InputError{Param: "OSType", Reason: fmt.Sprintf("is %q; allowed values are Linux, Windows, FreeBSD or empty for all", os)}
}

// RegionInfo is one region of the account, as DescribeRegions answers it.
type RegionInfo struct {
	RegionID  string `json:"region_id"`
	LocalName string `json:"local_name,omitempty"`
	// Status is "available" or "soldOut" (nothing new can be bought there;
	// its instances are still there to keep healthy).
	Status string `json:"status,omitempty"`
}

// DescribeRegions lists the regions of the account. Any regional endpoint
// answers for all of them; this client asks its own.
func (c *Client) DescribeRegions(ctx context.Context) ([]RegionInfo, error) {
	const action = ActionDescribeRegions
	req := sdkecs.CreateDescribeRegionsRequest()
	c.prepare(req.RpcRequest)
	var resp *sdkecs.DescribeRegionsResponse
	err := c.do(ctx, action, func(sc *sdkecs.Client) (err error) {
		resp, err = sc.DescribeRegions(req)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]RegionInfo, 0, len(resp.Regions.Region))
	for _, r := range resp.Regions.Region {
		if r.RegionId != "" {
			out = append(out, RegionInfo{RegionID: r.RegionId, LocalName: r.LocalName, Status: r.Status})
		}
	}
	return out, nil
}
