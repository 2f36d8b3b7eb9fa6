package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/fleetmend/fleetmend/ecssim"
	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/stack"
	"github.com/fleetmend/fleetmend/workflows"
)

// chromiumEnv overrides where TestWebUI finds Chromium.
const chromiumEnv = "FLEETMEND_CHROMIUM"

const defaultChromium = "/usr/bin/chromium"

// uiStepTimeout bounds each wait on the UI. A page of this UI renders in
// well under a second here; the margin is for a loaded CI machine.
const uiStepTimeout = 30 * time.Second

// TestWebUIShowsTheRun is the audit-trail promise of the README checked in a
// real browser: the Temporal Web UI that devstack embeds finds a run by
// fleetmend's search attributes (and only that run and its batches), opens
// the run's history at the link devstack --demo prints and shows there its
// scan, its batch child workflows and its verify polls, and shows each
// batch's check/install/reboot steps with their summaries.
//
// It drives headless Chromium (Debian's chromium package) with chromedp. On
// a machine without a browser it is skipped, unless FLEETMEND_REQUIRE_BROWSER=1
// (as in CI) makes that a failure.
func TestWebUIShowsTheRun(t *testing.T) {
	e2e.SkipShort(t)
	chromium := findChromium(t)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, stack.Options{
		IP: "127.0.0.1", UIPort: 0, Region: e2e.Region, TimeScale: 60, SimSeed: 5, Worker: true, Logger: zap.NewNop(),
		// 33 unhealthy instances out of 60: two batches of at most 20. No
		// stopped, vanishing or broken instances, so every batch installs,
		// reboots and verifies.
		Fleet: ecssim.FleetSpec{Size: 60, Seed: 11, Missing: 0.45, Silent: 0.1},
	})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	ui := st.Server.UIURL()
	require.NotEmpty(t, ui, "the stack has no Web UI")
	ns := st.Server.Namespace()

	// The run the UI must find.
	const runID = "fleetmend/cn-hangzhou/ui"
	run, err := st.StartRun(ctx, runID, uiInput())
	require.NoError(t, err)
	var rep workflows.Report
	require.NoError(t, run.Get(ctx, &rep))
	require.GreaterOrEqual(t, rep.Counts.Batches, 2, "the fleet should need two batches: %+v", rep.Counts)
	require.Equal(t, rep.Counts.Unhealthy(), rep.Counts.Remediated, "%+v", rep.Counts)
	require.Equal(t, rep.Counts.Remediated, rep.Counts.Rebooted, "every instance needs a reboot in the simulator: %+v", rep.Counts)
	batchSize := map[string]int{} // batch workflow ID -> instances
	var batchIDs []string
	for n := 1; n <= rep.Counts.Batches; n++ {
		batchIDs = append(batchIDs, fmt.Sprintf("%s/batch-%d", runID, n))
	}
	for _, r := range rep.Rows {
		if r.Batch > 0 {
			batchSize[fmt.Sprintf("%s/batch-%d", runID, r.Batch)]++
		}
	}

	// Two runs the filter must leave out: one of another kind in the same
	// region (a scheduled dry run, which completes), and one of the same
	// kind in another region. The simulator has one region, so that one is
	// parked on a task queue no worker polls; it stays Running.
	const dryID = "fleetmend/cn-hangzhou/ui-scheduled-dry-run"
	dry := uiInput()
	dry.DryRun, dry.Kind = true, workflows.KindScheduled
	dryRun, err := st.StartRun(ctx, dryID, dry)
	require.NoError(t, err)
	require.NoError(t, dryRun.Get(ctx, &workflows.Report{}))
	const otherRegion = "cn-shanghai"
	const parkedID = "fleetmend/cn-shanghai/ui-parked"
	_, err = st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: parkedID, TaskQueue: "fleetmend-ui-test-no-worker",
		TypedSearchAttributes: workflows.RunSearchAttributes(otherRegion, workflows.KindManual, false),
		StaticSummary:         "fleetmend manual run of " + otherRegion + " (never picked up)",
	}, workflows.RemediateRegion, workflows.RegionInput{Region: otherRegion})
	require.NoError(t, err)

	query := fmt.Sprintf(`%s="%s" AND %s="%s"`, workflows.SARegionName, e2e.Region, workflows.SAKindName, workflows.KindManual)
	wantListed := append([]string{runID}, batchIDs...)
	slices.Sort(wantListed)
	// Visibility is written asynchronously. Wait until the server answers
	// the UI's queries with the final state, so that what the browser is
	// asked to show is there.
	waitVisible(t, st, query, wantListed, true)
	waitVisible(t, st, fmt.Sprintf("WorkflowId = '%s' OR WorkflowId = '%s'", dryID, parkedID), []string{dryID, parkedID}, false)

	b := newBrowser(t, chromium)
	start := time.Now()

	// 1. Unfiltered, the list has the run and both others: they are there
	// for the filter to leave out.
	b.navigate(ui + "/namespaces/" + url.PathEscape(ns) + "/workflows")
	b.waitFor("the unfiltered workflow list shows the run and the two other runs",
		`(want) => (`+jsListedWorkflowIDs+`)().length > 0 && want.every(id => (`+jsListedWorkflowIDs+`)().includes(id))`,
		[]string{runID, dryID, parkedID})

	// 2. Filtered by fleetmend's search attributes (the list page's query
	// URL parameter, as the UI itself writes it), exactly the run and its
	// batches are listed.
	b.navigate(ui + "/namespaces/" + url.PathEscape(ns) + "/workflows?query=" + strings.ReplaceAll(url.QueryEscape(query), "+", "%20"))
	b.waitFor("the filtered workflow list shows exactly the run and its batches",
		`(want) => JSON.stringify((`+jsListedWorkflowIDs+`)()) === JSON.stringify(want)`, wantListed)
	listed := evalJS[[]string](b, "("+jsListedWorkflowIDs+")()")
	require.Equal(t, wantListed, listed)
	require.NotContains(t, listed, dryID)
	require.NotContains(t, listed, parkedID)
	require.Contains(t, b.mainText(), `FleetmendKind = "manual"`, "the filter is shown on the page")

	// 3. The link devstack --demo prints opens the run's history. Up to its
	// last segment (the tab: the list links to the timeline), it is the
	// address the UI itself puts on the run in its list, escaping included.
	link := HistoryURL(ui, ns, runID, run.GetRunID())
	uiHref := evalJS[string](b, jsWorkflowLink(runID, "[data-testid=workflows-summary-configurable-table-row] a[href]")+`.getAttribute("href")`)
	require.Equal(t, path.Dir(strings.TrimPrefix(link, ui)), path.Dir(uiHref), "the demo's link %s and the UI's own link %s to the run", link, uiHref)
	// Oldest first: the UI pages a history 100 events at a time, newest
	// first by default, and the scan is at its start.
	b.navigate(link + "?sort=ascending")
	b.waitFor("the run's page at the demo's link", jsHeadingIs, runID)
	b.waitFor("the run's history at the demo's link", `() => location.pathname.endsWith("/history") &&
		document.querySelectorAll('tr[data-testid="event-summary-row"]').length > 0`)
	// "All" rather than "Compact": one row per event.
	b.do("choose all events", chromedp.Click(chromedp.CSS(`[data-testid="feed"]`)))
	b.waitFor("the run's history has the completed run and its batches",
		`(id, n) => (`+jsHistoryOf+`)(id) && `+jsEventRowTexts+`.filter(r => r.text.includes("Child Workflow Execution Completed")).length === n`,
		runID, len(batchIDs))
	rows := b.eventRows()
	require.True(t, rows.has("Activity Task Scheduled", "ScanSegment", "scan cn-hangzhou"), "the run's history shows its scan:\n%s", rows)
	// The run itself verifies the agents of every batch's instances.
	require.True(t, rows.has("Activity Task Scheduled", "PollAgents", "verify the agents of "), "the run's history shows its verify polls:\n%s", rows)
	for i, id := range batchIDs {
		summary := fmt.Sprintf("%s batch %d: %d instances (", e2e.Region, i+1, batchSize[id])
		require.True(t, rows.has("Start Child Workflow Execution Initiated", summary), "the run's history shows batch %d's summary %q:\n%s", i+1, summary, rows)
	}
	// The batches' workflow IDs are in the details of their events: expand
	// each "Child Workflow Execution Started" row.
	for i := range batchIDs {
		b.click(fmt.Sprintf("expand the history row of the start of batch %d", i+1), chromedp.JSPath(fmt.Sprintf(
			`(%s)("Child Workflow Execution Started")[%d]?.querySelector('button[aria-label="Expand details"]')`, jsEventRowsWith, i)))
	}
	b.waitFor("the run's history shows each batch's workflow ID and a link to it",
		`(ids) => { const table = document.querySelector('tr[data-testid="event-summary-row"]')?.closest("table");
			return !!table && ids.every(id => table.innerText.includes(id) && (`+jsWorkflowLinkFn+`)(id, "a[href]", table)) }`, batchIDs)

	// 4. Each batch's own history shows its steps in order, with their
	// summaries. The first batch is opened with the link in the run's
	// history, the others by the address of that link.
	var batchURLs []string
	for _, id := range batchIDs {
		batchURLs = append(batchURLs, ui+evalJS[string](b, fmt.Sprintf(`(%s)(%s, "a[href]", document).getAttribute("href")`, jsWorkflowLinkFn, jsString(id))))
	}
	for i, id := range batchIDs {
		if i == 0 {
			b.click("batch 1's link in the run's history", chromedp.JSPath(jsWorkflowLink(id, "a[href]")))
		} else {
			b.navigate(batchURLs[i])
		}
		b.waitFor(fmt.Sprintf("batch %d's page", i+1), jsHeadingIs, id)
		b.openHistory()
		b.waitFor(fmt.Sprintf("batch %d's history is complete", i+1), jsHistoryOf, id)
		rows := b.eventRows()
		n := batchSize[id]
		steps := []struct{ activity, summary string }{
			{"CheckInstances", fmt.Sprintf("re-check %d instances before acting: i-", n)},
			{"InstallAgents", fmt.Sprintf("install agent on %d instances: i-", n)},
			{"RebootIfStillUnhealthy", fmt.Sprintf("reboot the instances of %d still unhealthy after install: i-", n)},
		}
		var want, got []string
		for _, s := range steps {
			want = append(want, s.activity)
		}
		for _, r := range rows.with("Activity Task Scheduled") {
			for _, s := range steps {
				if strings.Contains(r.Text, s.activity) {
					got = append(got, s.activity)
					require.Contains(t, r.Text, s.summary, "batch %d: the %s step shows its summary", i+1, s.activity)
				}
			}
		}
		require.Equal(t, want, got, "batch %d's history shows its steps in order:\n%s", i+1, rows)
		require.True(t, rows.has("Workflow Execution Completed"), "batch %d completed:\n%s", i+1, rows)
	}
	t.Logf("UI checks took %s (%d batches)", time.Since(start).Round(time.Millisecond), len(batchIDs))
}

// requireBrowserEnv=1 turns a missing browser from a skip into a failure
// (CI sets it: there the browser test must run).
const requireBrowserEnv = "FLEETMEND_REQUIRE_BROWSER"

// uiInput is the e2e run settings for this fleet, which is more than half
// unhealthy on purpose (two full batches from 60 instances): a run would
// take that for a systemic cause and touch nothing, so it is told to go on.
func uiInput() workflows.RegionInput {
	in := e2e.Input()
	in.MaxUnhealthyPercent = 100
	return in
}

// findChromium returns the Chromium binary: $FLEETMEND_CHROMIUM, else
// Debian's /usr/bin/chromium or a Chromium or Chrome on the PATH. With
// none, the test is skipped with how to enable it, or fails when
// FLEETMEND_REQUIRE_BROWSER=1. A FLEETMEND_CHROMIUM that is not there is a
// failure: someone asked for that browser.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(chromiumEnv); p != "" {
		found, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("%s=%s: %v", chromiumEnv, p, err)
		}
		return found
	}
	for _, name := range []string{defaultChromium, "chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if found, err := exec.LookPath(name); err == nil {
			return found
		}
	}
	msg := fmt.Sprintf("no Chromium found: install it (sudo apt-get install -y chromium) or set %s to a Chromium or Chrome binary to run this browser test", chromiumEnv)
	if os.Getenv(requireBrowserEnv) == "1" {
		t.Fatalf("%s (%s=1 requires it)", msg, requireBrowserEnv)
	}
	t.Skip(msg)
	return ""
}

// waitVisible waits until the server's visibility store lists exactly want
// for query, all closed if closed is set.
func waitVisible(t *testing.T, st *stack.Stack, query string, want []string, closed bool) {
	t.Helper()
	var got []string
	ok := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := st.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: st.Server.Namespace(), Query: query, PageSize: 100,
		})
		if err != nil {
			got = []string{err.Error()}
			return false
		}
		got = got[:0]
		for _, e := range resp.GetExecutions() {
			if closed && e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				continue
			}
			got = append(got, e.GetExecution().GetWorkflowId())
		}
		slices.Sort(got)
		return slices.Equal(got, want)
	}
	require.Eventually(t, ok, 30*time.Second, 100*time.Millisecond, "visibility for %s: want %q, last got %q", query, want, got)
}

// JavaScript used in the page. The selectors are the UI's own test IDs
// (data-testid) and ARIA labels, the link addresses are its routes
// (/namespaces/<ns>/workflows/<workflow ID>/<run ID>/...).
const (
	// jsWorkflowLinkFn finds, under root, the first link matching sel to
	// the page of the workflow with this ID, or null.
	jsWorkflowLinkFn = `(id, sel, root) => [...(root || document).querySelectorAll(sel)].find(a => {
		const m = a.pathname.match(/^\/namespaces\/[^/]+\/workflows\/([^/]+)\/[^/]+\/[a-z-]+$/);
		return !!m && decodeURIComponent(m[1]) === id;
	}) || null`
	// jsListedWorkflowIDs lists the workflow IDs of the rows of the
	// workflow list, sorted.
	jsListedWorkflowIDs = `() => { const ids = new Set();
		for (const a of document.querySelectorAll('[data-testid="workflows-summary-configurable-table-row"] a[href]')) {
			const m = a.pathname.match(/^\/namespaces\/[^/]+\/workflows\/([^/]+)\/[^/]+\/[a-z-]+$/);
			if (m) ids.add(decodeURIComponent(m[1]));
		}
		return [...ids].sort(); }`
	// jsEventRowTexts is the event history table's rows, in page order.
	jsEventRowTexts = `[...document.querySelectorAll('tr[data-testid="event-summary-row"]')].map(r => ({id: Number(r.dataset.eventid), text: r.innerText}))`
	// jsEventRowsWith returns the history rows whose text has s.
	jsEventRowsWith = `(s) => [...document.querySelectorAll('tr[data-testid="event-summary-row"]')].filter(r => r.innerText.includes(s))`
	// jsHistoryOf: the event history table shows the complete history of
	// the workflow with this ID (each row's event link is to that
	// workflow, so no rows of the page shown before are left), up to its
	// completion.
	jsHistoryOf = `(id) => { const rows = [...document.querySelectorAll('tr[data-testid="event-summary-row"]')];
		return rows.length > 0 && rows.some(r => r.innerText.includes("Workflow Execution Completed")) && rows.every(r => {
			const a = r.querySelector('a[href*="/history/events/"]');
			const m = a && a.pathname.match(/^\/namespaces\/[^/]+\/workflows\/([^/]+)\/[^/]+\/history\/events\/[0-9]+$/);
			return !!m && decodeURIComponent(m[1]) === id;
		}); }`
	// jsHeadingIs: the workflow page is the one of this workflow ID.
	jsHeadingIs = `(id) => (document.querySelector('[data-testid="workflow-id-heading"]')?.innerText ?? "").split(/\s+/).includes(id)`
)

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func jsWorkflowLink(id, sel string) string {
	return fmt.Sprintf("(%s)(%s, %s, document)", jsWorkflowLinkFn, jsString(id), jsString(sel))
}

// browser is one headless Chromium tab with the test's failure reporting.
type browser struct {
	t   *testing.T
	ctx context.Context // the tab; no deadline, each step sets its own
	out *e2e.SyncBuffer // Chromium's output and chromedp's errors (e2e.SyncBuffer: e2e_test.go)
}

func newBrowser(t *testing.T, chromium string) *browser {
	t.Helper()
	out := &e2e.SyncBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // as root, and in containers without user namespaces
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		// Wide enough for the UI's desktop layout (it hides columns and
		// labels on narrow screens).
		chromedp.WindowSize(1600, 1200),
		chromedp.CombinedOutput(out),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(format string, args ...any) {
		fmt.Fprintf(out, "chromedp: "+format+"\n", args...)
	}))
	// Cleanups run last-in first-out: close the tab and the browser (the
	// allocator's cancel waits for the process to exit).
	t.Cleanup(cancelAlloc)
	t.Cleanup(cancelTab)
	b := &browser{t: t, ctx: ctx, out: out}
	// The first action starts the browser and binds its life to the
	// context it is given, so it gets ctx itself, not one with a deadline;
	// the timeout is enforced here instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start Chromium %s: %v\n%s", chromium, err, out)
		}
	case <-time.After(uiStepTimeout):
		cancelTab()
		<-started
		t.Fatalf("Chromium %s did not start within %s\n%s", chromium, uiStepTimeout, out)
	}
	return b
}

// do runs actions with the step timeout and fails the test with the page's
// state if they fail.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, uiStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

func (b *browser) navigate(u string) {
	b.t.Helper()
	b.do("open "+u, chromedp.Navigate(u))
}

// click waits for the element to be visible and clicks it with the mouse.
func (b *browser) click(what string, sel chromedp.JSPath) {
	b.t.Helper()
	b.do("click "+what, chromedp.Click(sel))
}

// waitFor polls the JavaScript function fn (called with args) in the page
// until it returns a truthy value.
func (b *browser) waitFor(what, fn string, args ...any) {
	b.t.Helper()
	b.do("wait for "+what, chromedp.PollFunction[chromedp.Void](fn,
		chromedp.WithPollingArgs(args...),
		chromedp.WithPollingInterval(100*time.Millisecond),
		chromedp.WithPollingTimeout(uiStepTimeout-time.Second)))
}

// openHistory switches a workflow page to its event history, all events.
func (b *browser) openHistory() {
	b.t.Helper()
	b.do("open the Event History tab", chromedp.Click(chromedp.CSS(`[data-testid="history-tab"]`)))
	b.waitFor("the event history", `() => location.pathname.endsWith("/history") &&
		document.querySelectorAll('tr[data-testid="event-summary-row"]').length > 0`)
	// "All" rather than "Compact": one row per event.
	b.do("choose all events", chromedp.Click(chromedp.CSS(`[data-testid="feed"]`)))
}

func (b *browser) mainText() string {
	return evalJS[string](b, `(document.querySelector("main") || document.body).innerText`)
}

type eventRow struct {
	ID   int    `json:"id"`
	Text string `json:"text"`
}

type eventRows []eventRow

// with returns the rows whose text has every one of parts.
func (rs eventRows) with(parts ...string) eventRows {
	var out eventRows
	for _, r := range rs {
		if containsAll(r.Text, parts) {
			out = append(out, r)
		}
	}
	return out
}

func (rs eventRows) has(parts ...string) bool { return len(rs.with(parts...)) > 0 }

func (rs eventRows) String() string {
	var sb strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&sb, "  %d: %s\n", r.ID, strings.Join(strings.Fields(r.Text), " "))
	}
	return sb.String()
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// eventRows reads the event history table, oldest event first.
func (b *browser) eventRows() eventRows {
	rows := evalJS[eventRows](b, jsEventRowTexts)
	slices.SortFunc(rows, func(x, y eventRow) int { return x.ID - y.ID })
	return rows
}

func evalJS[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, uiStepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("evaluate "+expr, err)
	}
	return v
}

// fail reports what the page showed (address, text, a screenshot in the
// test's artifact directory: go test -artifacts keeps it) and ends the test.
func (b *browser) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	var notes []string
	if loc, lerr := chromedp.Run(ctx, chromedp.Location()); lerr == nil {
		notes = append(notes, "page: "+loc)
	}
	if text, terr := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("main") || document.body).innerText`)); terr == nil {
		text = regexp.MustCompile(`\n\s*\n+`).ReplaceAllString(text, "\n")
		if len(text) > 6000 {
			text = text[:6000] + "\n..."
		}
		notes = append(notes, "page text:\n"+text)
	}
	if png, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil {
		file := filepath.Join(b.t.ArtifactDir(), "webui-failure.png")
		if werr := os.WriteFile(file, png, 0o644); werr == nil {
			notes = append(notes, "screenshot: "+file)
		}
	}
	var out []string
	for line := range strings.Lines(b.out.String()) {
		// Chromium complains about every missing D-Bus service.
		if !strings.Contains(line, "dbus") {
			out = append(out, line)
		}
	}
	if len(out) > 0 {
		notes = append(notes, "chromium output:\n"+strings.Join(out, ""))
	}
	if errors.Is(err, chromedp.ErrPollingTimeout) || errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("not within %s: %w", uiStepTimeout, err)
	}
	b.t.Fatalf("web UI: %s: %v\n%s", what, err, strings.Join(notes, "\n"))
}
