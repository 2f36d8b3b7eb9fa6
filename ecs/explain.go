package ecs

import (
	"errors"
	"fmt"
	"strings"
)

// accountLevelCodes are the error codes that say the credentials or the
// account, not one instance or one request, are at fault. Every call made
// with the same credentials fails the same way, so a run that sees one must
// stop instead of trying the next batch. A function, not a variable, so
// there is no package-level state.
func accountLevelCodes() []string {
	return []string{
		"Forbidden",                  // Forbidden, Forbidden.RAM, Forbidden.NotAuthorized, ...
		"InvalidAccessKeyId",         // .NotFound, .Inactive
		"SignatureDoesNotMatch",      // wrong secret
		"IncompleteSignature",        // a broken signer
		"InvalidSecurityToken",       // .Expired, .Malformed, .Mismatch
		"InvalidAccessKeySecret",     // seen from some gateways
		"IllegalTimestamp",           // the worker's clock is off: every request fails
		"InvalidRegionId.NotFound",   // the whole region is wrong
		"RegionId.ApiNotSupported",   // Cloud Assistant is not offered in the region
		"Account.Arrearage",          // overdue payment: the account is frozen
		"InvalidAccount.NotFound",    // no such account
		"UnsupportedSignatureMethod", // a broken signer
	}
}

// IsAccountLevel reports whether an ECS error code means that no call with
// these credentials in this region can succeed (permissions, keys,
// signature, clock, region). The codes are matched on their dotted prefix,
// so Forbidden.RAM and Forbidden.NotAuthorized both count.
func IsAccountLevel(code string) bool {
	for _, p := range accountLevelCodes() {
		if code == p || strings.HasPrefix(code, p+".") {
			return true
		}
	}
	return false
}

// Explain is one line for a person: the ECS code, what it means, ECS's own
// message, the request ID (to quote to Alibaba Cloud support or find in
// ActionTrail) and what to do. It never includes response headers or the
// SDK's multi-line dump, and it never includes credentials.
func Explain(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if !errors.As(err, &e) {
		return oneLine(err.Error())
	}
	var b strings.Builder
	switch {
	case e.Code != "":
		b.WriteString(oneLine(e.Code))
	case e.HTTPStatus != 0:
		fmt.Fprintf(&b, "HTTP %d", e.HTTPStatus)
	default:
		b.WriteString("no answer from ECS")
	}
	meaning, todo := advice(e)
	if meaning != "" {
		b.WriteString(": " + meaning)
	}
	var facts []string
	if msg := oneLine(safeMessage(e.Message)); msg != "" && !strings.EqualFold(msg, meaning) {
		facts = append(facts, "ECS says "+quoteShort(msg))
	}
	if e.RequestID != "" {
		facts = append(facts, "request "+e.RequestID)
	}
	if len(facts) > 0 {
		b.WriteString(" (" + strings.Join(facts, ", ") + ")")
	}
	if todo != "" {
		b.WriteString("; " + todo)
	}
	return b.String()
}

// advice is what a code means and what an operator should do about it.
func advice(e *Error) (meaning, todo string) {
	action := e.Action
	if action == "" {
		action = "this action"
	}
	code := e.Code
	switch {
	case code == "InvalidRegionId.NotFound":
		return "the region does not exist", "check the run's region (--region), e.g. cn-hangzhou"
	case code == "RegionId.ApiNotSupported":
		return "Cloud Assistant is not available in this region", "fleetmend cannot manage this region"
	case strings.HasPrefix(code, "Forbidden"):
		return "the credentials are not allowed to call " + action,
			"grant ecs:" + action + " to the worker's RAM user or role (see the README's RAM policy)"
	case code == "InvalidAccessKeyId.NotFound":
		return "the AccessKeyId is unknown to Alibaba Cloud", "check ALIBABA_CLOUD_ACCESS_KEY_ID (or the worker's credential source)"
	case code == "InvalidAccessKeyId.Inactive":
		return "the AccessKey is disabled", "enable it or give the worker another key"
	case code == "SignatureDoesNotMatch":
		return "the AccessKeySecret does not match the AccessKeyId", "check ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	case strings.HasPrefix(code, "InvalidSecurityToken"):
		return "the STS security token is invalid or expired", "refresh the worker's STS credentials"
	case code == "IllegalTimestamp":
		return "the worker's clock is more than 15 minutes off", "synchronise the worker host's clock (NTP)"
	case strings.HasPrefix(code, "Throttling"):
		return "ECS throttled the request", "retried with backoff; if it persists lower --ecs-concurrency or ask for a higher quota"
	case code == "ServiceUnavailable" || strings.HasPrefix(code, "InternalError") || code == "UnknownError":
		return "a temporary ECS failure", "retried with backoff"
	case code == "IncorrectInstanceStatus":
		return "the instance's state does not allow " + action, "the instance is skipped"
	case code == "InvalidInstance.NotFound" || code == "InvalidInstanceId.NotFound":
		return "the instance does not exist (any more)", "the instance is skipped"
	case code == "fleetmend.LimitExceeded" || code == "fleetmend.InvalidInput":
		return "refused before sending", "this is a fleetmend bug, please report it"
	case code == "" && e.HTTPStatus == 0:
		return "the request did not get an answer", "check the network path to the ECS endpoint (--ecs-endpoint); retried with backoff"
	}
	return "", ""
}

// safeMessage drops what must not be repeated from an ECS message: a
// SignatureDoesNotMatch answer carries the server's string to sign, which
// holds every request parameter, the AccessKeyId and an STS
// SecurityToken among them. Errors end up in workflow histories, which
// everyone with UI access reads.
func safeMessage(msg string) string {
	if i := strings.Index(msg, "string to sign"); i >= 0 {
		msg = strings.TrimRight(msg[:i], " .:")
		if j := strings.LastIndexAny(msg, ".,;"); j >= 0 && j > len(msg)-20 {
			msg = msg[:j]
		}
	}
	return msg
}

// oneLine folds whitespace so a multi-line message stays on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// quoteShort quotes s, cut to a length that keeps the line readable.
func quoteShort(s string) string {
	const maxLen = 160
	if r := []rune(s); len(r) > maxLen {
		s = string(r[:maxLen]) + "…"
	}
	return fmt.Sprintf("%q", s)
}
