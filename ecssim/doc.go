// Package ecssim simulates the part of Alibaba Cloud ECS and Cloud Assistant
// that fleetmend uses, over the real wire protocol in both of its dialects,
// so the unmodified SDKs can talk to it with only the endpoint changed: the
// V1 SDK (github.com/aliyun/alibaba-cloud-sdk-go, services/ecs: RPC style,
// HMAC-SHA1 signature in the query) and the V2 SDK
// (github.com/alibabacloud-go/ecs-20140526: action in x-acs-action,
// ACS3-HMAC-SHA256 signature in the Authorization header). It is how
// fleetmend is developed, tested, demonstrated and benchmarked without a
// cloud account. docs/simulator-clients.md lists the SDK versions tested.
//
// # Using it
//
// In Go:
//
//	sim, err := ecssim.New(ecssim.Config{
//		Fleets: []ecssim.FleetSpec{{Region: "cn-hangzhou", Size: 1000, Seed: 1, Missing: 0.1, Silent: 0.05}},
//	})
//	srv, err := sim.Start("127.0.0.1:0")
//	defer srv.Close()
//
//	client, err := ecs.NewClientWithOptions("cn-hangzhou", sdk.NewConfig(),
//		credentials.NewStaticAKCredentialsProvider(ecssim.DefaultAccessKeyID, ecssim.DefaultAccessKeySecret))
//	client.Domain = srv.Endpoint() // host:port; the default scheme is HTTP
//
// or with the V2 SDK (github.com/alibabacloud-go/darabonba-openapi/v2/utils as openapiutil):
//
//	client, err := ecsv2.NewClient(&openapiutil.Config{
//		AccessKeyId: dara.String(ecssim.DefaultAccessKeyID), AccessKeySecret: dara.String(ecssim.DefaultAccessKeySecret),
//		Endpoint: dara.String(srv.Endpoint()), Protocol: dara.String("HTTP"), RegionId: dara.String("cn-hangzhou"),
//	})
//
// Server.Endpoint returns host:port (what client.Domain takes); Server.URL
// returns http://host:port for plain HTTP clients of the /_sim/ paths.
//
// From a shell: go run ./ecssim/cmd/ecssim --fleet-size 1000 --missing 0.1
// (see --help). Remember that the SDK honours HTTP_PROXY even for 127.0.0.1:
// set NO_PROXY or client.SetNoProxy.
//
// Default credentials: AccessKeyId "ecssim-access-key-id", secret
// "ecssim-access-key-secret" (DefaultAccessKeyID, DefaultAccessKeySecret).
// Default region: cn-hangzhou.
//
// # What it implements
//
// Actions (API version 2014-05-26, JSON only): DescribeInstanceStatus,
// DescribeCloudAssistantStatus, DescribeInstances, InstallCloudAssistant,
// RebootInstance, RebootInstances, with the documented limits and error codes:
//
//   - DescribeInstanceStatus: InstanceId.N ≤ 100 (403 InstanceIds.ExceedLimit),
//     unknown IDs omitted, ZoneId and ClusterId filters, PageNumber ≥ 1
//     (InvalidParam.PageNumber), PageSize 1..50 default 10 (InvalidParam.PageSize),
//     creation order. Paging applies to an InstanceId.N list too: 30 IDs with
//     the default PageSize answer 10 statuses and TotalCount 30.
//   - DescribeCloudAssistantStatus: InstanceId.N ≤ 100; any unknown or vanished ID
//     fails the call with 404 InvalidInstance.NotFound; OSType filter; PageNumber/
//     PageSize paging, or MaxResults (1..50, InvalidParameter.MaxResults)/NextToken
//     (InvalidParameter.NextToken) paging where TotalCount, PageNumber and PageSize
//     are 0 and NextToken is empty on the last page. CloudAssistantStatus is "true"
//     only with a heartbeat within 2 minutes; CloudAssistantVersion is empty unless
//     the agent is installed and heartbeating; SupportSessionManager from the
//     version (2.2.3.189 Linux/FreeBSD, 2.1.3.189 Windows).
//   - DescribeInstances: InstanceIds is a JSON array string of up to 100 IDs
//     (more: 403 InvalidParameter.TooManyInstanceIds — DescribeInstances' own
//     error table names no code for this limit, so the simulator answers
//     with the one the current ECS reference gives for the same limit on
//     DescribeInstanceStatus and the other instance operations; not JSON, or
//     not an array of strings: 400 InvalidInstanceIds.Malformed); unknown,
//     vanished and other regions' IDs are simply absent; an empty array
//     selects nothing. Filters ZoneId, Status (404 InvalidStatus.NotFound)
//     and Tag.N.Key/Tag.N.Value (N ≤ 20, else 400 InvalidTagCount; a value
//     without its key 400 InvalidTag.Mismatch; values match exactly and a
//     key alone matches any value, since the SDK never sends an empty one).
//     PageNumber/PageSize (1..100, default 10, also for an ID list) or
//     MaxResults (1..100)/NextToken paging as above, the token bound to
//     DescribeInstances; DryRun answers 400 DryRunOperation. Each Instance
//     has InstanceId, InstanceName and HostName (the ID), RegionId, ZoneId,
//     Status, OSType in lowercase ("linux", "windows", "freebsd"), OSName,
//     OSNameEn, CreationTime, StartTime (last boot, Running only), ClusterId
//     and Tags.Tag[]{TagKey, TagValue} sorted by key; in creation order.
//   - DescribeRegions: the configured regions, in order, as Regions.Region[]
//     with RegionId, LocalName (Chinese; English for an AcceptLanguage not
//     zh*), RegionEndpoint ecs.<region>.aliyuncs.com and Status "available".
//     RegionId is optional (the V2 SDK sends none); an unknown one is 404
//     InvalidRegionId.NotFound.
//   - InstallCloudAssistant: 1..20 IDs (400 MissingParam.InstanceId, 403
//     InstanceIds.ExceedLimit); one unknown ID (404 InvalidInstance.NotFound) or
//     one instance not Running (403 IncorrectInstanceStatus) fails the whole call.
//     The install takes effect at the next boot.
//   - RebootInstance: InstanceId, ForceStop, DryRun (400 DryRunOperation);
//     404 InvalidInstanceId.NotFound, 403 IncorrectInstanceStatus.
//   - RebootInstances: 1..100 IDs, ForceReboot, DryRun, BatchOptimization
//     AllTogether (default: one bad instance fails the call) or SuccessFirst
//     (per-instance Code "200"/"success" or the error code);
//     other values 400 InvalidParameter.BatchOptimization.
//
// Every request is checked like the gateway does: Action (MissingParameter,
// 404 InvalidAction.NotFound), Version (InvalidVersion), common parameters,
// AccessKeyId (404 InvalidAccessKeyId.NotFound), signature (400
// SignatureDoesNotMatch with the server string to sign in the message),
// Timestamp within 15 minutes of wall-clock time (400 IllegalTimestamp), nonce
// not reused within 15 minutes (400 SignatureNonceUsed), SecurityToken for
// credentials that have one, permission (403 Forbidden.RAM, also for the
// regions a credential's ForbiddenRegions names), RegionId (404
// InvalidRegionId.NotFound; 400 RegionId.ApiNotSupported for
// DescribeCloudAssistantStatus in configured regions). Errors carry the JSON
// body {"RequestId","HostId","Code","Message","Recommend"}.
//
// The two dialects differ only in how a request is decoded; everything after
// (faults, the checks above, hooks, the actions, the truth counters) is one
// code path. A request with an Authorization header, or one naming its action
// only in the x-acs-action header, is an ACS3 request; any other is an RPC
// request (the V1 SDK sends x-acs-action too, but always with Action in the
// query and no Authorization).
//
//   - RPC: Action, Version and every common parameter (Format=JSON,
//     AccessKeyId, SignatureMethod=HMAC-SHA1, SignatureVersion=1.0,
//     SignatureNonce, Timestamp, Signature, SecurityToken) in the query or a
//     form body, signed together with the action's parameters.
//   - ACS3: x-acs-action, x-acs-version, x-acs-date (the Timestamp),
//     x-acs-signature-nonce, x-acs-content-sha256 and x-acs-security-token
//     headers; Authorization "ACS3-HMAC-SHA256 Credential=<AccessKeyId>,
//     SignedHeaders=<lower-case, sorted, ;-separated>,Signature=<hex>",
//     where SignedHeaders must include host, those headers and every other
//     x-acs-* header sent (else 400 IncompleteSignature, as for an unreadable
//     Authorization; another ACS3 algorithm is 400 InvalidSignatureMethod).
//     The canonical request covers the method, path, the query's parameters
//     (sorted, RFC 3986 encoded), the signed headers and the SHA-256 of the
//     body as received, so a body that is not the one hashed and signed is
//     400 SignatureDoesNotMatch. The action's parameters come from the query
//     and a form body. Missing headers are MissingParameter naming the header.
//
// RebootInstance has no RegionId in the API (the V2 SDK sends none): without
// one, the instance's own region stands for the regional endpoint a real
// client would call.
//
// # The instance model
//
// Simulated time comes from a Clock: a ScaledClock (TimeScale simulated
// seconds per real second) or a ManualClock that tests advance. State is
// computed lazily from the clock on access; there is no goroutine per
// instance. A reboot goes Running → Stopping (10 s) → Starting (20 s) →
// Running; at boot a pending install takes effect and a hung agent restarts;
// the agent's first heartbeat comes 5 s after boot, then every 55, 60 or 65 s
// (per instance). Stopped instances stay stopped. An instance generated or
// added with a vanish time answers 404 and leaves the listings once the clock
// passes it. Fleets are generated from a seed with exact shares of missing,
// silent, stopped, install-always-fails, outdated and vanishing instances.
//
// Managed instances (FleetSpec.Managed, InstanceSpec.Managed) are servers
// outside ECS registered with Cloud Assistant: "mi-" IDs, no zone, an agent
// (ManagedOfflineShare of a generated fleet's offline). As the latest
// DescribeCloudAssistantStatus document has it ("an ECS instance or a
// managed instance"), that action lists them with the ECS instances and
// answers them by InstanceId.N, in the same shape. No ECS action knows them:
// DescribeInstances and DescribeInstanceStatus leave them out (of listings
// and of by-ID answers, like unknown IDs), InstallCloudAssistant answers 404
// InvalidInstance.NotFound, RebootInstance(s) InvalidInstanceId.NotFound.
// InstanceIDs lists a region's ECS instances, ManagedInstanceIDs its managed
// ones; Truth marks them Managed, and InstanceTruth.Described counts the
// by-ID DescribeInstances and DescribeInstanceStatus calls that named an
// instance.
//
// Instances carry tags (at most 20, keys and values up to 128 characters):
// InstanceSpec.Tags, SetTag/RemoveTag, and FleetSpec.Tagged, the exact share
// of a generated fleet carrying TagKey=TagValue (default
// "fleetmend:exclude"="true"), drawn from a random stream of its own so a
// spec that gains Tagged keeps its IDs and problems.
//
// Churn (SetChurn) makes a region change while it is being listed: before
// each listing call (DescribeCloudAssistantStatus or DescribeInstanceStatus
// without InstanceId.N, DescribeInstances without InstanceIds; Churn.Actions
// narrows them) that reaches its action in Churn.Region, DeletePerCall random
// live instances of the region vanish, wherever they are in the listing, and
// CreatePerCall new Running instances appear (an exact share Missing without
// an agent, the others heartbeating from their creation), all at the current
// simulated time and from a seeded stream. NextToken paging stays exact under
// churn; page numbers do not (a deletion behind the cursor shifts every later
// page), which the simulator shows faithfully.
//
// Truth records, per instance, CreatedAt (the start for generated fleets)
// and VanishedAt (zero while alive), BootedAt (the last time it became
// Running), and InstallTimes/RebootTimes (simulated times of accepted
// installs and of reboots performed), so a test can tell which instances
// lived through a whole scan and when each one was repaired.
//
// Truth.MaxRebootingAtOnce is the blast radius as the fleet felt it: the
// most instances that were, at one simulated moment, between a reboot call
// and Running again (a reboot counts as [call, call + StopDuration +
// StartDuration)); MaxRebootingAtOnceByZone is the same per zone. Both are
// reset by ResetCounters (reboots still in progress count for the next one).
//
// Truth.UserAgents counts every request at the RPC endpoint (refused ones
// included) by its User-Agent header, up to MaxUserAgents distinct values
// (the rest under "(other)"), so a test can check who called: the V1 SDK
// sends "AlibabaCloud (…) Golang/… Core/…", the V2 SDK "AlibabaCloud (…)
// Golang/… Core/0.01 TeaDSL/2", each followed by what the client appended
// (fleetmend's ecs.Config.UserAgent, e.g. " fleetmend/1.2.3").
//
// # Test paths (unsigned, under /_sim/)
//
//	GET  /_sim/truth                  Truth: every instance (sorted by ID, vanished included), per-action
//	                                  counters, user agents seen, most instances rebooting at once
//	GET  /_sim/truth?instance=<id>    InstanceTruth of one instance (404 if unknown)
//	GET  /_sim/faults                 the injected faults
//	PUT  /_sim/faults                 set faults: {"throttle_rps":5,"throttle_burst":5,"error_rate":0.1,
//	                                  "error_code":"Forbidden.RAM","latency":"200ms","drop_rate":0.01,
//	                                  "omit_rate":0.05,"omit_ids":["i-…"],"actions":["RebootInstances"],"seed":7}
//	POST /_sim/instances/<id>/vanish        the instance disappears
//	POST /_sim/instances/<id>/heal          agent installed and running, heartbeat now
//	POST /_sim/instances/<id>/silence       agent hangs: no more heartbeats
//	POST /_sim/instances/<id>/remove-agent  agent uninstalled
//	POST /_sim/instances/<id>/stop          instance Stopped at once
//	POST /_sim/instances/<id>/start         instance Running at once (counts as a boot)
//	POST /_sim/instances/<id>/tag?key=k&value=v  set tag k=v (value may be empty or absent)
//	POST /_sim/instances/<id>/untag?key=k   remove tag k
//	GET  /_sim/churn                  the churn in effect, defaults filled in
//	PUT  /_sim/churn                  set churn: {"region":"cn-hangzhou","delete_per_call":2,"create_per_call":1,
//	                                  "missing":0.2,"zones":["cn-hangzhou-a"],"actions":["DescribeInstances"],
//	                                  "seed":3}; {} stops it; unknown fields are refused
//	GET  /_sim/hooks                  the hooks that may still fire (times = what is left)
//	POST /_sim/hooks                  add a hook: {"action":"InstallCloudAssistant","instance_id":"i-…","times":1,
//	                                  "heal_agent":true,"stop_instance":false,"fail_code":"ServiceUnavailable"}
//	DELETE /_sim/hooks                remove every hook
//	POST /_sim/reset-counters         zero all install/reboot/call counters, install/reboot times,
//	                                  user agents and rebooting-at-once maxima
//	POST /_sim/clock/advance?by=90s   advance a ManualClock (409 with a scaled clock)
//
// The instance operations answer the instance's InstanceTruth, 404 for an
// unknown instance, 409 for a vanished one. The same operations exist in Go:
// Truth, Instance, Faults, SetFaults, Vanish, HealAgent, SilenceAgent,
// RemoveAgent, SetState, SetTag, RemoveTag, Churn, SetChurn, AddHook, Hooks,
// ClearHooks, ResetCounters, AdvanceClock.
//
// Faults (throttling above a rate with 400 Throttling.User, 5xx at a rate with
// 503 ServiceUnavailable / 500 InternalError.Dispatch, added latency, dropped
// connections) apply to all actions or to the listed ones, with seeded
// randomness. Faults.ErrorCode makes the requests ErrorRate selects fail
// with that code instead, with the HTTP status and message real ECS sends
// with it: Forbidden.RAM 403, InvalidAccessKeyId.NotFound 404,
// InvalidAccessKeyId.Inactive 403, SignatureDoesNotMatch 400 (with the
// request's own string to sign, so the SDK suspects the secret), Throttling,
// Throttling.User, Throttling.Api 400, ServiceUnavailable 503, InternalError,
// InternalError.Dispatch, UnknownError 500, OperationConflict 409,
// IncorrectInstanceStatus 403, InvalidInstanceId.NotFound and
// InvalidInstance.NotFound 404 (InjectableErrorCodes; any other code is
// refused). {ErrorRate: 1, ErrorCode: "Forbidden.RAM", Actions:
// ["RebootInstances"]} refuses every reboot as for a RAM user without that
// permission. Injected errors count as calls and errors of the action, never
// as an instance's refusal.
//
// Hooks (AddHook) provoke the races a test needs at the exact request: when
// a request of Hook.Action that names Hook.InstanceID (in InstanceId,
// InstanceId.N or InstanceIds) gets past the faults and the gateway's checks,
// the hook fires (at most Times times, 0 meaning once), before the action
// runs: it heals the agent and/or stops the instance, and with FailCode
// answers that injectable error without running the action. Hooks fire in
// the order they were added; the first FailCode among those that fired
// answers. E.g. {Action: "InstallCloudAssistant", InstanceID: x, Times: 1,
// HealAgent: true, FailCode: "ServiceUnavailable"}: x recovers just before
// an install call that fails once and is retried.
//
// "Unanswered is not missing": Faults.OmitRate leaves each instance named in
// a by-ID request (DescribeCloudAssistantStatus and DescribeInstanceStatus
// with InstanceId.N, DescribeInstances with InstanceIds) out of the answer
// with that probability, and Faults.OmitIDs always. The answer is otherwise
// normal (no error, TotalCount without them); an unknown ID still fails
// DescribeCloudAssistantStatus. Listings (no IDs) are not affected, and
// Faults.Actions restricts omissions like the other faults.
package ecssim
