// Package ecs is the fleet API as fleetmend needs it: six ECS actions
// (DescribeInstanceStatus, DescribeCloudAssistantStatus, DescribeInstances,
// InstallCloudAssistant, RebootInstance, RebootInstances) as typed calls over
// the unmodified alibaba-cloud-sdk-go.
//
// Three things are decided here and nowhere else:
//
//   - Limits. Every documented limit (page sizes, ID list lengths) is checked
//     before a request is built, so an oversized call never reaches the wire and
//     the caller gets a *LimitError naming the parameter and the allowed range.
//   - Concurrency. The SDK client is not safe for concurrent use (it sets
//     timeouts on a shared transport per call), so a Client owns a small pool of
//     SDK clients and lends each concurrent caller its own.
//   - Error classification. Every error a call returns is an *Error carrying a
//     Class (retryable, instance-level, permanent), the ECS error code, the HTTP
//     status and the request ID. Retrying is the caller's business (fleetmend
//     leaves it to Temporal retry policies); the SDK's own AutoRetry stays off.
package ecs
