package ecs

import (
	"errors"
	"strings"
	"testing"
)

func TestExplainIsOneLineWithoutSecrets(t *testing.T) {
	sts := "SECRET-STS-TOKEN-VALUE"
	e := &Error{Action: ActionRebootInstances, Class: Permanent, Code: "SignatureDoesNotMatch", HTTPStatus: 400, RequestID: "R-1",
		Message: "Specified signature is not matched with our calculation. server string to sign is:POST&%2F&AccessKeyId%3DAKID%26SecurityToken%3D" + sts}
	got := Explain(e)
	if strings.Contains(got, sts) || strings.Contains(got, "AKID") || strings.Contains(got, "string to sign") {
		t.Fatalf("Explain leaks the request's parameters: %s", got)
	}
	for _, want := range []string{"SignatureDoesNotMatch: the AccessKeySecret does not match the AccessKeyId", "request R-1", "check ALIBABA_CLOUD_ACCESS_KEY_SECRET"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	multi := &Error{Action: ActionDescribeInstances, Code: "InvalidRegionId.NotFound", HTTPStatus: 404, RequestID: "R-2", Message: "The RegionId provided\ndoes not exist."}
	got = Explain(multi)
	if strings.Contains(got, "\n") {
		t.Fatalf("not one line: %q", got)
	}
	if want := `InvalidRegionId.NotFound: the region does not exist (ECS says "The RegionId provided does not exist.", request R-2); check the run's region (--region), e.g. cn-hangzhou`; got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := Explain(errors.New("plain\nerror")); got != "plain error" {
		t.Fatalf("got %q", got)
	}
	for _, code := range []string{"Forbidden.RAM", "InvalidAccessKeyId.NotFound", "SignatureDoesNotMatch", "InvalidSecurityToken.Expired", "IllegalTimestamp", "InvalidRegionId.NotFound"} {
		if !IsAccountLevel(code) {
			t.Errorf("%s should stop a run", code)
		}
	}
	for _, code := range []string{"Throttling.User", "ServiceUnavailable", "IncorrectInstanceStatus", "InvalidInstance.NotFound", ""} {
		if IsAccountLevel(code) {
			t.Errorf("%s is not account-level", code)
		}
	}
}
