package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/config"
	"github.com/fleetmend/fleetmend/internal/config/numflag"
	"github.com/fleetmend/fleetmend/internal/render"
	"github.com/fleetmend/fleetmend/workflows"
)

// scheduleTarget names one schedule: a region and an optional name for
// schedules of the same region with other filters.
type scheduleTarget struct {
	region string
	name   string
	// fleet: the fleet schedule (of fleet runs over many regions),
	// fleetmend-fleet[-<name>], instead of a region's.
	fleet bool
}

func (t *scheduleTarget) register(fs *pflag.FlagSet) {
	fs.StringVar(&t.region, "region", "", "ECS region ID (required, unless --fleet)")
	fs.StringVar(&t.name, "name", "", "name a second schedule of the same region (e.g. one per zone or OS): letters, digits, '-'")
	fs.BoolVar(&t.fleet, "fleet", false, "the fleet schedule (created with --regions or --all-regions) instead of a region's")
}

func (t scheduleTarget) validate() error {
	switch {
	case t.fleet && t.region != "":
		return usageErr("give --region or --fleet (the schedule created with --regions or --all-regions), not both")
	case t.fleet:
	case t.region == "":
		return usageErr("--region is required (an ECS region ID such as cn-hangzhou), or --fleet for the fleet schedule")
	default:
		if err := (workflows.RegionInput{Region: t.region}).WithDefaults().Validate(); err != nil {
			return usageErr("--region: %v", err)
		}
	}
	for _, r := range t.name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return usageErr("--name %q: allowed are letters, digits and '-'", t.name)
		}
	}
	return nil
}

// id is the schedule ID: fleetmend-<region>[-<name>], or for the fleet
// schedule fleetmend-fleet[-<name>].
func (t scheduleTarget) id() string {
	if t.fleet {
		t.region = "fleet"
	}
	if t.name == "" {
		return "fleetmend-" + t.region
	}
	return "fleetmend-" + t.region + "-" + t.name
}

// workflowID is the base ID of the runs the schedule starts; Temporal
// appends the scheduled time.
func (t scheduleTarget) workflowID() string {
	if t.fleet {
		return guard.FleetScheduleID(t.name)
	}
	return guard.ScheduleID(t.region, t.name)
}

func (a *app) scheduleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Manage the Temporal Schedule of a region (create, update, describe, list, pause, unpause, trigger, delete)",
		Long: `One Temporal Schedule per region (and, with --name, per extra filter set) starts RemediateRegion
runs of kind "scheduled". Overlapping runs are skipped, not stacked. Pausing and unpausing take a
note that shows in the Web UI's schedule page.`,
	}
	cmd.AddCommand(a.scheduleCreateCommand(false), a.scheduleCreateCommand(true), a.scheduleDescribeCommand(), a.scheduleListCommand(),
		a.schedulePauseCommand(true), a.schedulePauseCommand(false), a.scheduleTriggerCommand(), a.scheduleDeleteCommand())
	return cmd
}

// maxEvery is the longest --every: a month of 31 days.
const maxEvery = 31 * 24 * time.Hour

type scheduleFlags struct {
	target        scheduleTarget
	run           runFlags
	fleet         fleetFlags
	cron          []string
	every         time.Duration
	offset        time.Duration
	timeZone      string
	jitter        time.Duration
	note          string
	paused        bool
	dryRun        bool
	catchupWindow time.Duration
}

func (f *scheduleFlags) spec() (client.ScheduleSpec, error) {
	// --every's range is checked by the flag; 0 is its "not given".
	if (len(f.cron) == 0) == (f.every == 0) {
		return client.ScheduleSpec{}, usageErr("give exactly one of --cron or --every")
	}
	if f.offset != 0 && f.every == 0 {
		return client.ScheduleSpec{}, usageErr("--offset only goes with --every")
	}
	if f.every != 0 && f.offset >= f.every {
		return client.ScheduleSpec{}, usageErr("--offset is %s, allowed range is 0s up to less than --every (%s)", numflag.FormatDuration(f.offset), numflag.FormatDuration(f.every))
	}
	if f.timeZone != "" {
		if _, err := time.LoadLocation(f.timeZone); err != nil {
			return client.ScheduleSpec{}, usageErr("--time-zone %q is not an IANA time zone (e.g. Asia/Shanghai, UTC)", f.timeZone)
		}
	}
	for _, c := range f.cron {
		if n := len(strings.Fields(c)); !strings.HasPrefix(c, "@") && (n < 5 || n > 7) {
			return client.ScheduleSpec{}, usageErr("--cron %q has %d fields, want 5 (minute hour day-of-month month day-of-week), 6 or 7, or @hourly/@daily/@every 6h", c, n)
		}
	}
	spec := client.ScheduleSpec{CronExpressions: f.cron, TimeZoneName: f.timeZone, Jitter: f.jitter}
	if f.every != 0 {
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: f.every, Offset: f.offset}}
	}
	return spec, nil
}

func (a *app) scheduleAction(f *scheduleFlags) (*client.ScheduleWorkflowAction, error) {
	if f.target.fleet {
		in, err := f.fleet.input(&f.run, workflows.KindScheduled, "schedule "+f.target.id(), f.dryRun)
		if err != nil {
			return nil, err
		}
		return &client.ScheduleWorkflowAction{
			ID:                    f.target.workflowID(),
			Workflow:              workflows.RemediateFleet,
			Args:                  []any{in},
			TaskQueue:             a.taskQueue,
			TypedSearchAttributes: fleetSearchAttributes(in.Run.Kind, in.Run.DryRun),
			StaticSummary:         fleetSummary(in),
			StaticDetails:         fleetDetails(in),
		}, nil
	}
	f.run.region = f.target.region
	in, err := f.run.input(workflows.KindScheduled, "schedule "+f.target.id(), f.dryRun)
	if err != nil {
		return nil, err
	}
	return &client.ScheduleWorkflowAction{
		ID:                    f.target.workflowID(),
		Workflow:              workflows.RemediateRegion,
		Args:                  []any{in},
		TaskQueue:             config.RegionTaskQueue(a.taskQueue, in.Region),
		TypedSearchAttributes: workflows.RunSearchAttributes(in.Region, in.Kind, in.DryRun),
		StaticSummary:         runSummary(in),
		StaticDetails:         runDetails(in),
	}, nil
}

func (a *app) scheduleCreateCommand(update bool) *cobra.Command {
	var f scheduleFlags
	use, short := "create", "Create the region's schedule, or update it if it exists (idempotent)"
	if update {
		use, short = "update", "Replace the spec and run settings of an existing schedule"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Example: `  starter schedule ` + use + ` --region cn-hangzhou --every 6h --jitter 10m
  starter schedule ` + use + ` --region cn-hangzhou --cron "30 2 * * *" --time-zone Asia/Shanghai
  starter schedule ` + use + ` --region cn-hangzhou --name windows --os-type Windows --every 12h
  starter schedule ` + use + ` --all-regions --every 6h --jitter 10m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.fleet.set() {
				if f.target.region != "" {
					return usageErr("give --region, or --regions / --all-regions, not both")
				}
				f.target.fleet = true
			} else if f.target.fleet {
				return usageErr("--fleet: name the fleet schedule's regions with --regions or --all-regions")
			}
			if err := f.target.validate(); err != nil {
				return err
			}
			spec, err := f.spec()
			if err != nil {
				return err
			}
			action, err := a.scheduleAction(&f)
			if err != nil {
				return err
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			opts := client.ScheduleOptions{
				ID: f.target.id(), Spec: spec, Action: action,
				// A run still going when the next is due: skip, never stack.
				Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
				CatchupWindow: f.catchupWindow,
				Paused:        f.paused,
				Note:          f.note,
			}
			verb := "updated"
			if !update {
				_, err = c.ScheduleClient().Create(ctx, opts)
				verb = "created"
			}
			if update || errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
				if update {
					verb = "updated"
				} else {
					verb = "updated (it existed)"
				}
				err = a.replaceSchedule(ctx, c, opts, cmd.Flags().Changed("paused"))
			}
			if err != nil {
				return scheduleErr(f.target.id(), err)
			}
			if a.jsonOut {
				return writeJSON(a.out, map[string]string{"schedule_id": f.target.id(), "result": verb})
			}
			fmt.Fprintf(a.out, "schedule %s %s\n", f.target.id(), verb)
			return nil
		},
	}
	f.target.register(cmd.Flags())
	f.run.register(cmd.Flags(), false)
	f.fleet.register(cmd.Flags())
	cmd.Flags().StringArrayVar(&f.cron, "cron", nil, `cron expression, e.g. "0 */6 * * *" (repeatable); or use --every`)
	fs := cmd.Flags()
	numVar(fs, numflag.NewDuration(&f.every, "every", 0, numflag.Range[time.Duration]{Min: time.Minute, Max: maxEvery}), "run every interval, e.g. 6h; or use --cron")
	numVar(fs, numflag.NewDuration(&f.offset, "offset", 0, numflag.Range[time.Duration]{Min: 0, Max: maxEvery}), "with --every: offset into the interval, e.g. 30m, less than --every")
	cmd.Flags().StringVar(&f.timeZone, "time-zone", "", "IANA time zone of --cron, e.g. Asia/Shanghai (default UTC)")
	numVar(fs, numflag.NewDuration(&f.jitter, "jitter", 0, numflag.Range[time.Duration]{Min: 0, Max: 24 * time.Hour}), "start each run up to this much later, at random (0s: on time)")
	cmd.Flags().StringVar(&f.note, "note", "", "a note shown with the schedule")
	cmd.Flags().BoolVar(&f.paused, "paused", false, "create the schedule paused")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "the schedule's runs are dry runs: scan and plan, change nothing (how a team first trusts fleetmend)")
	numVar(fs, numflag.NewDuration(&f.catchupWindow, "catchup-window", time.Hour, numflag.Range[time.Duration]{Min: 10 * time.Second, Max: 7 * 24 * time.Hour}),
		"after an outage, still start runs missed within this window")
	return cmd
}

// replaceSchedule swaps spec, action and policies of an existing schedule,
// keeping its pause state unless --paused was given.
func (a *app) replaceSchedule(ctx context.Context, c client.Client, opts client.ScheduleOptions, setPaused bool) error {
	h := c.ScheduleClient().GetHandle(ctx, opts.ID)
	return h.Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			spec := opts.Spec
			s.Spec = &spec
			s.Action = opts.Action
			if s.Policy == nil {
				s.Policy = &client.SchedulePolicies{}
			}
			s.Policy.Overlap = opts.Overlap
			s.Policy.CatchupWindow = opts.CatchupWindow
			if s.State == nil {
				s.State = &client.ScheduleState{}
			}
			if setPaused {
				s.State.Paused = opts.Paused
			}
			if opts.Note != "" {
				s.State.Note = opts.Note
			}
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
}

func scheduleErr(id string, err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return usageErr("no schedule %s (create it with `starter schedule create`)", id)
	}
	return &exitError{code: exitUsage, err: fmt.Errorf("schedule %s: %w", id, err)}
}

// scheduleView is describe's output.
type scheduleView struct {
	ID            string      `json:"schedule_id"`
	Paused        bool        `json:"paused"`
	Note          string      `json:"note,omitempty"`
	Cron          []string    `json:"cron,omitempty"`
	Every         []string    `json:"every,omitempty"`
	TimeZone      string      `json:"time_zone,omitempty"`
	Jitter        string      `json:"jitter,omitempty"`
	Overlap       string      `json:"overlap"`
	WorkflowID    string      `json:"workflow_id"`
	Input         any         `json:"input,omitempty"`
	NextRuns      []time.Time `json:"next_runs"`
	RecentRuns    []recentRun `json:"recent_runs"`
	RunningRuns   []string    `json:"running_runs"`
	ActionsTaken  int64       `json:"actions_taken"`
	OverlapSkips  int64       `json:"overlap_skipped"`
	CreatedAt     time.Time   `json:"created_at"`
	LastUpdatedAt time.Time   `json:"last_updated_at,omitzero"`
}

type recentRun struct {
	ScheduledAt time.Time `json:"scheduled_at"`
	StartedAt   time.Time `json:"started_at"`
	WorkflowID  string    `json:"workflow_id"`
}

func recentRuns(actions []client.ScheduleActionResult) []recentRun {
	var out []recentRun
	for _, r := range actions {
		rr := recentRun{ScheduledAt: r.ScheduleTime, StartedAt: r.ActualTime}
		if r.StartWorkflowResult != nil {
			rr.WorkflowID = r.StartWorkflowResult.WorkflowID
		}
		out = append(out, rr)
	}
	return out
}

func viewOf(id string, d *client.ScheduleDescription) scheduleView {
	v := scheduleView{ID: id, CreatedAt: d.Info.CreatedAt, LastUpdatedAt: d.Info.LastUpdateAt,
		ActionsTaken: int64(d.Info.NumActions), OverlapSkips: int64(d.Info.NumActionsSkippedOverlap)}
	if st := d.Schedule.State; st != nil {
		v.Paused, v.Note = st.Paused, st.Note
	}
	if sp := d.Schedule.Spec; sp != nil {
		v.Cron = sp.CronExpressions
		for _, iv := range sp.Intervals {
			s := iv.Every.String()
			if iv.Offset > 0 {
				s += " offset " + iv.Offset.String()
			}
			v.Every = append(v.Every, s)
		}
		for _, cal := range sp.Calendars {
			v.Cron = append(v.Cron, calendarText(cal))
		}
		v.TimeZone = sp.TimeZoneName
		if sp.Jitter > 0 {
			v.Jitter = sp.Jitter.String()
		}
	}
	if p := d.Schedule.Policy; p != nil {
		v.Overlap = strings.ToLower(strings.TrimPrefix(p.Overlap.String(), "SCHEDULE_OVERLAP_POLICY_"))
	}
	if act, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction); ok {
		v.WorkflowID = act.ID
	}
	v.NextRuns = slices.Clone(d.Info.NextActionTimes)
	v.RecentRuns = recentRuns(d.Info.RecentActions)
	for _, r := range d.Info.RunningWorkflows {
		v.RunningRuns = append(v.RunningRuns, r.WorkflowID)
	}
	return v
}

// calendarText is a short rendering of a calendar spec (the server turns
// cron expressions into calendars).
func calendarText(c client.ScheduleCalendarSpec) string {
	rng := func(rs []client.ScheduleRange) string {
		var parts []string
		for _, r := range rs {
			switch {
			case r.End > r.Start && r.Step > 1:
				parts = append(parts, fmt.Sprintf("%d-%d/%d", r.Start, r.End, r.Step))
			case r.End > r.Start:
				parts = append(parts, fmt.Sprintf("%d-%d", r.Start, r.End))
			default:
				parts = append(parts, fmt.Sprint(r.Start))
			}
		}
		if len(parts) == 0 {
			return "*"
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprintf("calendar second=%s minute=%s hour=%s day=%s month=%s weekday=%s",
		rng(c.Second), rng(c.Minute), rng(c.Hour), rng(c.DayOfMonth), rng(c.Month), rng(c.DayOfWeek))
}

func (a *app) scheduleDescribeCommand() *cobra.Command {
	var t scheduleTarget
	cmd := &cobra.Command{
		Use:     "describe",
		Short:   "Show a schedule: spec, state and note, next and recent runs",
		Example: "  starter schedule describe --region cn-hangzhou\n  starter schedule describe --region cn-hangzhou --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := t.validate(); err != nil {
				return err
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			d, err := c.ScheduleClient().GetHandle(cmd.Context(), t.id()).Describe(cmd.Context())
			if err != nil {
				return scheduleErr(t.id(), err)
			}
			v := viewOf(t.id(), d)
			if a.jsonOut {
				return writeJSON(a.out, v)
			}
			state := "active"
			if v.Paused {
				state = "PAUSED"
			}
			fmt.Fprintf(a.out, "schedule %s (%s)\n", v.ID, state)
			if v.Note != "" {
				fmt.Fprintf(a.out, "  note: %s\n", v.Note)
			}
			for _, c := range v.Cron {
				fmt.Fprintf(a.out, "  cron: %s\n", c)
			}
			for _, e := range v.Every {
				fmt.Fprintf(a.out, "  every: %s\n", e)
			}
			if v.TimeZone != "" {
				fmt.Fprintf(a.out, "  time zone: %s\n", v.TimeZone)
			}
			if v.Jitter != "" {
				fmt.Fprintf(a.out, "  jitter: %s\n", v.Jitter)
			}
			fmt.Fprintf(a.out, "  overlap: %s   runs started: %d   skipped (overlap): %d\n  runs are %s-<time>\n", v.Overlap, v.ActionsTaken, v.OverlapSkips, v.WorkflowID)
			for _, n := range v.NextRuns {
				fmt.Fprintf(a.out, "  next: %s\n", n.UTC().Format(time.RFC3339))
			}
			for _, r := range v.RecentRuns {
				fmt.Fprintf(a.out, "  recent: %s  %s\n", r.StartedAt.UTC().Format(time.RFC3339), r.WorkflowID)
			}
			for _, r := range v.RunningRuns {
				fmt.Fprintf(a.out, "  running: %s\n", r)
			}
			return nil
		},
	}
	t.register(cmd.Flags())
	return cmd
}

func (a *app) scheduleListCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List fleetmend's schedules",
		Example: "  starter schedule list\n  starter schedule list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{PageSize: 100})
			if err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("list schedules: %w", err)}
			}
			var views []scheduleView
			for it.HasNext() {
				e, err := it.Next()
				if err != nil {
					return &exitError{code: exitUsage, err: fmt.Errorf("list schedules: %w", err)}
				}
				if !strings.HasPrefix(e.ID, "fleetmend-") {
					continue
				}
				v := scheduleView{ID: e.ID, Paused: e.Paused, Note: e.Note, NextRuns: e.NextActionTimes}
				if e.Spec != nil {
					v.Cron = e.Spec.CronExpressions
					for _, iv := range e.Spec.Intervals {
						v.Every = append(v.Every, iv.Every.String())
					}
					if len(v.Cron) == 0 && len(e.Spec.Calendars) > 0 {
						v.Cron = []string{calendarText(e.Spec.Calendars[0])}
					}
					v.TimeZone = e.Spec.TimeZoneName
				}
				v.RecentRuns = recentRuns(e.RecentActions)
				views = append(views, v)
			}
			slices.SortFunc(views, func(x, y scheduleView) int { return strings.Compare(x.ID, y.ID) })
			return writeList(a, views, "no fleetmend schedules", "SCHEDULE\tSTATE\tSPEC\tNEXT\tNOTE", func(v scheduleView) string {
				state := "active"
				if v.Paused {
					state = "paused"
				}
				spec := strings.Join(append(slices.Clone(v.Cron), v.Every...), "; ")
				next := "-"
				if len(v.NextRuns) > 0 {
					next = v.NextRuns[0].UTC().Format(time.RFC3339)
				}
				return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", v.ID, state, spec, next, render.Dash(v.Note))
			})
		},
	}
}

func (a *app) schedulePauseCommand(pause bool) *cobra.Command {
	var t scheduleTarget
	var note string
	use, short := "unpause", "Resume a paused schedule, with a note"
	if pause {
		use, short = "pause", "Pause a schedule, with a note that shows in the UI"
	}
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: fmt.Sprintf("  starter schedule %s --region cn-hangzhou --note \"INC-4711: change freeze\"", use),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := t.validate(); err != nil {
				return err
			}
			if note == "" {
				note = fmt.Sprintf("%sd by %s with fleetmend starter", use, a.username())
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			h := c.ScheduleClient().GetHandle(cmd.Context(), t.id())
			if pause {
				err = h.Pause(cmd.Context(), client.SchedulePauseOptions{Note: note})
			} else {
				err = h.Unpause(cmd.Context(), client.ScheduleUnpauseOptions{Note: note})
			}
			if err != nil {
				return scheduleErr(t.id(), err)
			}
			if a.jsonOut {
				return writeJSON(a.out, map[string]string{"schedule_id": t.id(), "result": use + "d", "note": note})
			}
			fmt.Fprintf(a.out, "schedule %s %sd: %s\n", t.id(), use, note)
			return nil
		},
	}
	t.register(cmd.Flags())
	cmd.Flags().StringVar(&note, "note", "", "why (shown in the Web UI); default names the user")
	return cmd
}

func (a *app) scheduleTriggerCommand() *cobra.Command {
	var t scheduleTarget
	var wait bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "trigger",
		Short: "Start the schedule's run now (skipped if one is already running)",
		Example: `  starter schedule trigger --region cn-hangzhou
  starter schedule trigger --region cn-hangzhou --wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := t.validate(); err != nil {
				return err
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			h := c.ScheduleClient().GetHandle(ctx, t.id())
			before, err := h.Describe(ctx)
			if err != nil {
				return scheduleErr(t.id(), err)
			}
			if err := h.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP}); err != nil {
				return scheduleErr(t.id(), err)
			}
			// The trigger is asynchronous: find the run it started.
			id, err := waitTriggered(ctx, h, before.Info.NumActions, before.Info.NumActionsSkippedOverlap)
			if err != nil {
				return err
			}
			if id == "" {
				return usageErr("schedule %s: skipped, a run of it is still going", t.id())
			}
			if !wait {
				if a.jsonOut {
					return writeJSON(a.out, map[string]string{"schedule_id": t.id(), "workflow_id": id})
				}
				fmt.Fprintf(a.out, "schedule %s triggered: %s\n", t.id(), id)
				return nil
			}
			if !a.jsonOut {
				fmt.Fprintf(a.out, "schedule %s triggered: %s\n", t.id(), id)
			}
			if t.fleet {
				return a.followFleet(ctx, c, id, interval)
			}
			return a.follow(ctx, c, id, interval)
		},
	}
	t.register(cmd.Flags())
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the triggered run and print its report")
	progressIntervalFlag(cmd.Flags(), &interval)
	return cmd
}

// waitTriggered polls the schedule until its action count moves on, and
// returns the started run's workflow ID, or "" when the trigger was skipped.
func waitTriggered(ctx context.Context, h client.ScheduleHandle, actions, skipped int) (string, error) {
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for {
		d, err := h.Describe(ctx)
		if err != nil {
			return "", scheduleErr(h.GetID(), err)
		}
		if d.Info.NumActions > actions && len(d.Info.RecentActions) > 0 {
			last := d.Info.RecentActions[len(d.Info.RecentActions)-1]
			if last.StartWorkflowResult != nil {
				return last.StartWorkflowResult.WorkflowID, nil
			}
		}
		if d.Info.NumActionsSkippedOverlap > skipped {
			return "", nil
		}
		select {
		case <-poll.C:
		case <-deadline.C:
			return "", &exitError{code: exitUsage, err: fmt.Errorf("schedule %s: the triggered run did not start within 30s", h.GetID())}
		case <-ctx.Done():
			return "", &exitError{code: exitUsage, err: ctx.Err()}
		}
	}
}

func (a *app) scheduleDeleteCommand() *cobra.Command {
	var t scheduleTarget
	cmd := &cobra.Command{
		Use:     "delete",
		Short:   "Delete a schedule (runs it started are not affected)",
		Example: "  starter schedule delete --region cn-hangzhou",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := t.validate(); err != nil {
				return err
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			if err := c.ScheduleClient().GetHandle(cmd.Context(), t.id()).Delete(cmd.Context()); err != nil {
				return scheduleErr(t.id(), err)
			}
			if a.jsonOut {
				return writeJSON(a.out, map[string]string{"schedule_id": t.id(), "result": "deleted"})
			}
			fmt.Fprintf(a.out, "schedule %s deleted\n", t.id())
			return nil
		},
	}
	t.register(cmd.Flags())
	return cmd
}
