package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/notify"
)

func TestEveryKindHasAnExampleThatValidates(t *testing.T) {
	var kinds []notify.EventKind
	for _, e := range events() {
		require.NoError(t, e.Validate(), e.Kind)
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, notify.EventKinds(), kinds)
}

func TestValidateNamesTheField(t *testing.T) {
	base := events()[1] // run-stopped
	long := strings.Repeat("x", 301)
	for want, edit := range map[string]func(e *notify.Event){
		`notify event: kind "run-paused" must be one of approval-waiting, run-stopped, run-completed-with-failures, holder-stuck, freeze-set, freeze-lifted`: func(e *notify.Event) { e.Kind = "run-paused" },
		"notify event run-stopped: region is required":                                         func(e *notify.Event) { e.Region = "" },
		"notify event run-stopped: reason is required (one line: what happened)":               func(e *notify.Event) { e.Reason = " \n" },
		"notify event run-stopped: reason is 501 bytes; at most 500":                           func(e *notify.Event) { e.Reason = strings.Repeat("r", 501) },
		"notify event run-stopped: workflow_id is required (the run)":                          func(e *notify.Event) { e.WorkflowID = "" },
		"notify event run-stopped: code is required (what stopped the run, e.g. error-budget)": func(e *notify.Event) { e.Code = "" },
		"notify event run-stopped: actor is 301 bytes; at most 300":                            func(e *notify.Event) { e.Actor = long },
		"notify event run-stopped: 11 failures; at most 10 (the first ones: the total belongs in counts)": func(e *notify.Event) {
			e.Failures = make([]notify.Failure, 11)
		},
		"notify event run-stopped: 13 counts; at most 12":                func(e *notify.Event) { e.Counts = make([]notify.Count, 13) },
		"notify event run-stopped: 6 commands; at most 5":                func(e *notify.Event) { e.Commands = make([]string, 6) },
		"notify event run-stopped: 6 links; at most 5":                   func(e *notify.Event) { e.Links = make([]notify.Link, 6) },
		"notify event run-stopped: counts[0]: name must be 1..300 bytes": func(e *notify.Event) { e.Counts[0].Name = "" },
		"notify event run-stopped: failures[2]: instance_id is required, and the failure at most 300 bytes": func(e *notify.Event) {
			e.Failures[2].InstanceID = ""
		},
		"notify event run-stopped: commands[0] must be 1..300 bytes": func(e *notify.Event) { e.Commands = []string{" "} },
		"notify event run-stopped: links[0]: label must be 1..300 bytes": func(e *notify.Event) {
			e.Links = []notify.Link{{URL: "http://ui"}}
		},
		"notify event run-stopped: links[0] (ui): url must be an http(s) URL of at most 600 bytes": func(e *notify.Event) {
			e.Links = []notify.Link{{Label: "ui", URL: "javascript:alert(1)"}}
		},
	} {
		e := base
		e.Counts = append([]notify.Count(nil), base.Counts...)
		e.Failures = append([]notify.Failure(nil), base.Failures...)
		edit(&e)
		require.EqualError(t, e.Validate(), want)
	}
	freeze := events()[4]
	freeze.Until = time.Time{}
	require.EqualError(t, freeze.Validate(), "notify event freeze-set: until is required (when the freeze expires)")
}
