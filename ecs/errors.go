package ecs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
)

// Class says what a caller should do about an error.
type Class string

const (
	// Retryable: throttling of any flavour, 5xx, ServiceUnavailable,
	// OperationConflict, transport failures and timeouts. Try again later with backoff.
	Retryable Class = "retryable"
	// InstanceLevel: the call failed because of one (unnamed) instance in it:
	// not found, or in a state that does not allow the operation. Isolate it
	// and carry on with the others.
	InstanceLevel Class = "instance"
	// Permanent: bad parameter, limit exceeded, forbidden, bad signature,
	// unknown key or region. Retrying the same call cannot succeed.
	Permanent Class = "permanent"
	// NotSent: the call never left this process: the caller's context
	// ended, or its start-by time passed (see WithStartBy), while it waited
	// for a client of the pool. Nothing was carried out; it may be tried
	// again.
	NotSent Class = "not-sent"
	// Interrupted: the caller stopped waiting (its context ended: a worker
	// stopping, an activity timing out) while the request was on its way
	// or being answered. ECS may or may not carry it out; whoever retries
	// must find out which, as for a transport failure.
	Interrupted Class = "interrupted"
)

// Error is every error a call of this package returns (limit errors are
// wrapped in it too). Class, Code, HTTPStatus and RequestID stay inspectable
// so callers can log, classify and report without parsing strings.
type Error struct {
	Action     string
	Class      Class
	Code       string // ECS error code, e.g. "Throttling.User"; "" for transport errors
	HTTPStatus int    // 0 when no HTTP answer arrived
	RequestID  string
	Message    string
	Err        error // the underlying SDK, transport or limit error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ecs %s: ", e.Action)
	if e.Code != "" {
		b.WriteString(e.Code)
	} else {
		b.WriteString(string(e.Class) + " error")
	}
	if e.HTTPStatus != 0 || e.RequestID != "" {
		b.WriteString(" (")
		if e.HTTPStatus != 0 {
			fmt.Fprintf(&b, "HTTP %d", e.HTTPStatus)
		}
		if e.RequestID != "" {
			if e.HTTPStatus != 0 {
				b.WriteString(", ")
			}
			b.WriteString("request " + e.RequestID)
		}
		b.WriteString(")")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// LimitError is a documented limit that a call would break. It is raised
// before any request is built.
type LimitError struct {
	Param    string // e.g. "InstanceId.N"
	Got      int
	Min, Max int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s is %d, allowed range is %d..%d", e.Param, e.Got, e.Min, e.Max)
}

// InputError is a parameter this package refuses to send (empty or repeated
// IDs, an unknown OS type). Like LimitError it never reaches the wire.
type InputError struct {
	Param  string
	Reason string
}

func (e *InputError) Error() string { return e.Param + " " + e.Reason }

// ClassOf classifies any error: an *Error anywhere in the chain answers for
// itself; anything else is classified from what it is.
func ClassOf(err error) Class {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return classifyRaw(err)
}

// IsRetryable, IsInstanceLevel and IsPermanent are shorthands for ClassOf.
// A call that was not sent or was interrupted is retryable: it failed for
// its caller's reasons, not ECS's.
func IsRetryable(err error) bool {
	c := ClassOf(err)
	return c == Retryable || c == NotSent || c == Interrupted
}
func IsInstanceLevel(err error) bool { return ClassOf(err) == InstanceLevel }
func IsPermanent(err error) bool     { return ClassOf(err) == Permanent }

// CodeOf returns the ECS error code of err, or "" when it has none.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// wrap turns whatever the SDK returned into an *Error for action.
func wrap(action string, err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	e := &Error{Action: action, Err: err}
	var serverErr *sdkerrors.ServerError
	var clientErr *sdkerrors.ClientError
	var limitErr *LimitError
	var inputErr *InputError
	switch {
	case errors.As(err, &inputErr):
		e.Class, e.Code, e.Message = Permanent, "fleetmend.InvalidInput", inputErr.Error()
	case errors.As(err, &limitErr):
		e.Class, e.Code, e.Message = Permanent, "fleetmend.LimitExceeded", limitErr.Error()
	case errors.As(err, &serverErr):
		e.Code = serverErr.ErrorCode()
		e.HTTPStatus = serverErr.HttpStatus()
		e.RequestID = serverErr.RequestId()
		e.Message = serverErr.Message()
		e.Class = ClassifyCode(e.Code, e.HTTPStatus)
	case errors.As(err, &clientErr):
		e.Code = clientErr.ErrorCode()
		e.Message = clientErr.Message()
		e.Class = classifyClientError(clientErr)
	default:
		e.Class = classifyRaw(err)
		e.Message = err.Error()
	}
	return e
}

// ClassifyCode classifies an ECS error code and HTTP status. It classifies by
// code first, because throttling comes back as 400 from ECS and as 429 from
// other services, and only falls back to the status for unknown codes.
func ClassifyCode(code string, httpStatus int) Class {
	switch {
	case strings.HasPrefix(code, "Throttling"),
		code == "ServiceUnavailable",
		strings.HasPrefix(code, "InternalError"),
		code == "UnknownError",
		code == "OperationConflict",
		code == "LastTokenProcessing",
		code == "IncorrectInstanceStatus.Initializing",
		// The SDK draws a new nonce per request, so a collision is a fluke
		// that the next attempt will not repeat.
		code == "SignatureNonceUsed":
		return Retryable
	case code == "InvalidInstance.NotFound",
		code == "InvalidInstanceId.NotFound",
		code == "InvalidInstanceId.MalFormed",
		code == "IncorrectInstanceStatus",
		code == "IncorrectVmStatus",
		code == "InstanceLockedForSecurity":
		return InstanceLevel
	case IsAccountLevel(code):
		// Keys, permissions, clock, region: whatever the status, the same
		// call with the same credentials fails again.
		return Permanent
	case code != "":
		if httpStatus >= 500 || httpStatus == 429 {
			return Retryable
		}
		return Permanent
	}
	// No code: a non-JSON answer such as a proxy's HTML 502.
	if httpStatus >= 500 || httpStatus == 429 || httpStatus == 408 {
		return Retryable
	}
	return Permanent
}

func classifyClientError(e *sdkerrors.ClientError) Class {
	switch e.ErrorCode() {
	case sdkerrors.TimeoutErrorCode,
		// A 200 whose body is not JSON is a truncated or mangled answer
		// (a proxy, a dropped connection); asking again is the fix.
		sdkerrors.JsonUnmarshalErrorCode:
		return Retryable
	}
	if orig := e.OriginError(); orig != nil && classifyRaw(orig) == Retryable {
		return Retryable
	}
	return Permanent
}

// classifyRaw handles errors that did not come back as an ECS answer.
func classifyRaw(err error) Class {
	var netErr net.Error
	var urlErr *url.Error
	var opErr *net.OpError
	switch {
	case errors.Is(err, context.Canceled):
		// The caller gave up: it was not ECS that refused.
		return Interrupted
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.As(err, &netErr), errors.As(err, &urlErr), errors.As(err, &opErr):
		return Retryable
	}
	return Permanent
}
