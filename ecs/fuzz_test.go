package ecs

import (
	"strings"
	"testing"
)

// FuzzClassifyAndExplain: any code and status classify into one of the
// three classes, account-level codes are never retried, and the one-line
// explanation of any message stays one line without the string to sign.
func FuzzClassifyAndExplain(f *testing.F) {
	for _, c := range []struct {
		code   string
		status int
		msg    string
	}{
		{"Throttling.User", 400, "Request was denied due to user flow control."},
		{"Forbidden.RAM", 403, "User not authorized"},
		{"SignatureDoesNotMatch", 400, "Specified signature is not matched with our calculation. server string to sign is:POST&%2F&SecurityToken%3Dsecret"},
		{"", 502, "<html>bad gateway</html>"},
		{"InternalError.Dispatch", 500, "line one\nline two"},
		{"IncorrectInstanceStatus", 403, ""},
		{"Weird.Code", 0, "\x00\xff"},
	} {
		f.Add(c.code, c.status, c.msg)
	}
	f.Fuzz(func(t *testing.T, code string, status int, msg string) {
		class := ClassifyCode(code, status)
		switch class {
		case Retryable, InstanceLevel, Permanent:
		default:
			t.Fatalf("ClassifyCode(%q, %d) = %q", code, status, class)
		}
		if IsAccountLevel(code) && class == Retryable {
			t.Fatalf("account-level %q would be retried", code)
		}
		line := Explain(&Error{Action: ActionRebootInstances, Class: class, Code: code, HTTPStatus: status, Message: msg, RequestID: "R"})
		if strings.ContainsAny(line, "\n\r") {
			t.Fatalf("not one line: %q", line)
		}
		if strings.Contains(msg, "string to sign") && strings.Contains(line, "string to sign") {
			t.Fatalf("explanation repeats the string to sign: %q", line)
		}
	})
}
