package ecssim

import (
	"fmt"
	"net/http"
	"slices"
)

// Error is the type of the simulator's Go API errors. It is a string type so
// the sentinels below can be constants (no package-level mutable state).
type Error string

func (e Error) Error() string { return string(e) }

// Sentinel errors of the Go API; match them with errors.Is.
const (
	// ErrUnknownInstance: no instance with that ID was ever created.
	ErrUnknownInstance Error = "ecssim: unknown instance"
	// ErrVanished: the instance existed but has vanished.
	ErrVanished Error = "ecssim: instance has vanished"
	// ErrNoAgent: the operation needs an installed agent.
	ErrNoAgent Error = "ecssim: agent not installed"
	// ErrNotManualClock: the operation needs the simulator to run on a ManualClock.
	ErrNotManualClock Error = "ecssim: clock is not a ManualClock"
)

// apiError is an error answer of the ECS API: HTTP status, Code and Message
// exactly as the real service writes them into the error body.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

func newAPIError(status int, code, message string) *apiError {
	return &apiError{Status: status, Code: code, Message: message}
}

// The constructors below keep codes, statuses and messages in one place so
// the table test and the handlers cannot drift apart.

func errMissingParameter(name string) *apiError {
	return newAPIError(http.StatusBadRequest, "MissingParameter",
		fmt.Sprintf("The input parameter %q that is mandatory for processing this request is not supplied.", name))
}

func errInvalidParameter(name string) *apiError {
	return newAPIError(http.StatusBadRequest, "InvalidParameter",
		fmt.Sprintf("The specified parameter %q is not valid.", name))
}

func errInstanceIDsExceedLimit() *apiError {
	return newAPIError(http.StatusForbidden, "InstanceIds.ExceedLimit",
		"The number of instance IDs exceeds the upper limit.")
}

func errInvalidPageSize() *apiError {
	return newAPIError(http.StatusBadRequest, "InvalidParam.PageSize", "The specified parameter is invalid.")
}

func errInvalidPageNumber() *apiError {
	return newAPIError(http.StatusBadRequest, "InvalidParam.PageNumber", "The specified parameter is invalid.")
}

func errInvalidMaxResults() *apiError {
	return newAPIError(http.StatusBadRequest, "InvalidParameter.MaxResults",
		"The specified parameter MaxResults is not valid.")
}

func errInvalidNextToken() *apiError {
	return newAPIError(http.StatusBadRequest, "InvalidParameter.NextToken",
		"The specified parameter NextToken is not valid.")
}

func errInvalidOSType() *apiError {
	return newAPIError(http.StatusBadRequest, "InvalidParameter.OSType",
		"The specified parameter OSType is not valid. Valid values: Windows, Linux, FreeBSD.")
}

// errInstanceNotFound is the spelling of the API documents of
// DescribeCloudAssistantStatus and InstallCloudAssistant.
func errInstanceNotFound() *apiError {
	return newAPIError(http.StatusNotFound, "InvalidInstance.NotFound", "The specified instance does not exist.")
}

// errInstanceIDNotFound is the spelling real ECS uses for the reboot calls.
func errInstanceIDNotFound() *apiError {
	return newAPIError(http.StatusNotFound, "InvalidInstanceId.NotFound", "The specified InstanceId does not exist.")
}

func errIncorrectInstanceStatus() *apiError {
	return newAPIError(http.StatusForbidden, "IncorrectInstanceStatus",
		"The current status of the resource does not support this operation.")
}

func errDryRun() *apiError {
	return newAPIError(http.StatusBadRequest, "DryRunOperation", "Request validation has been passed with DryRun flag set.")
}

func errMissingInstanceIDForInstall() *apiError {
	return newAPIError(http.StatusBadRequest, "MissingParam.InstanceId", "The parameter instanceId is missing or empty.")
}

func errInvalidBatchOptimization() *apiError {
	return newAPIError(http.StatusBadRequest, "InvalidParameter.BatchOptimization",
		"The specified parameter BatchOptimization is not valid. Valid values: AllTogether, SuccessFirst.")
}

func errInvalidRegion() *apiError {
	return newAPIError(http.StatusNotFound, "InvalidRegionId.NotFound", "The RegionId provided does not exist in our records.")
}

func errRegionAPINotSupported() *apiError {
	return newAPIError(http.StatusBadRequest, "RegionId.ApiNotSupported", "The api is not supported in this region.")
}

func errThrottled() *apiError {
	return newAPIError(http.StatusBadRequest, "Throttling.User", "Request was denied due to user flow control.")
}

func errServiceUnavailable() *apiError {
	return newAPIError(http.StatusServiceUnavailable, "ServiceUnavailable",
		"The request has failed due to a temporary failure of the server.")
}

func errInternalDispatch() *apiError {
	return newAPIError(http.StatusInternalServerError, "InternalError.Dispatch",
		"An error occurred when you dispatched the request.")
}

// The DescribeInstances errors. Its own error table lists no code for more
// than 100 InstanceIds; the current ECS reference answers that limit with
// 403 InvalidParameter.TooManyInstanceIds on DescribeInstanceStatus and the
// other instance operations, so the simulator does the same here.

func errTooManyInstanceIds() *apiError {
	return newAPIError(http.StatusForbidden, "InvalidParameter.TooManyInstanceIds", "Instance ids cannot be more than 100.")
}

func errInvalidInstanceIdsMalformed() *apiError {
	return newAPIError(http.StatusBadRequest, "InvalidInstanceIds.Malformed", "The specified InstanceIds is not valid.")
}

func errInvalidTagCount() *apiError {
	return newAPIError(http.StatusBadRequest, "InvalidTagCount", "The specified tags are beyond the permitted range.")
}

func errInvalidTagMismatch() *apiError {
	return newAPIError(http.StatusBadRequest, "InvalidTag.Mismatch", "The specified Tag.n.Key and Tag.n.Value are not match.")
}

func errInvalidStatus() *apiError {
	return newAPIError(http.StatusNotFound, "InvalidStatus.NotFound", "The specified Status is not found")
}

// ---- errors a test can inject (Faults.ErrorCode, Hook.FailCode) ----

func errForbiddenRAM() *apiError {
	return newAPIError(http.StatusForbidden, "Forbidden.RAM",
		"User not authorized to operate on the specified resource, or this API doesn't support RAM.")
}

func errAccessKeyNotFound() *apiError {
	return newAPIError(http.StatusNotFound, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
}

// errInvalidSignatureMethod names the one method the request's dialect
// supports: HMAC-SHA1 for RPC, ACS3-HMAC-SHA256 for ACS3.
func errInvalidSignatureMethod(supported string) *apiError {
	return newAPIError(http.StatusBadRequest, "InvalidSignatureMethod",
		"Specified signature method is not valid. Only "+supported+" is supported.")
}

func errInvalidTimestampFormat() *apiError {
	return newAPIError(http.StatusBadRequest, "InvalidTimeStamp.Format",
		"Specified time stamp or date value is not well formatted.")
}

// errIncompleteSignature answers an ACS3 Authorization header that cannot
// be read (not "<algorithm> Credential=…,SignedHeaders=…,Signature=…") or
// that leaves out a header the gateway requires to be signed.
func errIncompleteSignature() *apiError {
	return newAPIError(http.StatusBadRequest, "IncompleteSignature",
		"The request signature does not conform to Aliyun standards.")
}

func errSignatureDoesNotMatch(stringToSign string) *apiError {
	// The SDK splits the message at "server string to sign is:" and
	// compares with its own to tell a wrong secret from a signing bug.
	return newAPIError(http.StatusBadRequest, "SignatureDoesNotMatch",
		"Specified signature is not matched with our calculation. server string to sign is:"+stringToSign)
}

// injectableErrors lists, for every code a test may inject, the error real
// ECS answers with that code: its HTTP status and message. Keeping them in
// one table means an injected Forbidden.RAM is indistinguishable from the
// one a forbidden credential gets.
func injectableErrors() []*apiError {
	return []*apiError{
		errForbiddenRAM(),
		errAccessKeyNotFound(),
		newAPIError(http.StatusForbidden, "InvalidAccessKeyId.Inactive", "Specified access key is disabled."),
		errSignatureDoesNotMatch(""),
		newAPIError(http.StatusBadRequest, "Throttling", "Request was denied due to request throttling."),
		errThrottled(),
		newAPIError(http.StatusBadRequest, "Throttling.Api", "Request was denied due to api flow control."),
		errServiceUnavailable(),
		newAPIError(http.StatusInternalServerError, "InternalError",
			"The request processing has failed due to some unknown error, exception or failure."),
		errInternalDispatch(),
		newAPIError(http.StatusInternalServerError, "UnknownError", "The request processing has failed due to some unknown error."),
		newAPIError(http.StatusConflict, "OperationConflict", "Request was denied due to conflict with a previous request."),
		errIncorrectInstanceStatus(),
		errInstanceIDNotFound(),
		errInstanceNotFound(),
	}
}

// InjectableErrorCodes returns the codes Faults.ErrorCode and Hook.FailCode
// accept, sorted.
func InjectableErrorCodes() []string {
	list := injectableErrors()
	codes := make([]string, len(list))
	for i, e := range list {
		codes[i] = e.Code
	}
	slices.Sort(codes)
	return codes
}

func isInjectableCode(code string) bool {
	return slices.Contains(InjectableErrorCodes(), code)
}

// injectedError is the answer for an injected code. SignatureDoesNotMatch
// carries the request's real string to sign in its own dialect, as the
// gateway's does, so the SDK's hint reads as it would for a wrong secret.
func injectedError(code string, req signedRequest) *apiError {
	if code == "SignatureDoesNotMatch" {
		return errSignatureDoesNotMatch(req.stringToSign())
	}
	for _, e := range injectableErrors() {
		if e.Code == code {
			return e
		}
	}
	// Validation refuses unknown codes; reaching this is a bug, and a 500
	// naming it is the most useful way to surface one.
	return newAPIError(http.StatusInternalServerError, "InternalError", "ecssim: no injectable error "+code)
}
