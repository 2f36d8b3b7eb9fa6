// Package fleetworker assembles fleetmend's Temporal worker: the
// workflows, the activities with their ECS clients, and the worker's
// concurrency and rate limits, on one task queue per region it serves.
// The worker binary and devstack build the same worker here.
package fleetworker

import (
	"context"
	"errors"
	"fmt"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/fleetmend/fleetmend/activities"
	"github.com/fleetmend/fleetmend/ecs"
	"github.com/fleetmend/fleetmend/guard"
	"github.com/fleetmend/fleetmend/internal/config"
	"github.com/fleetmend/fleetmend/internal/version"
	"github.com/fleetmend/fleetmend/workflows"
)

// Config is the worker's configuration. Zero values are defaults.
type Config struct {
	// TaskQueue is the base name: region R's runs, batches and activities
	// are on TaskQueue-R (config.RegionTaskQueue).
	TaskQueue string
	// ECS is the base ECS configuration; its Region is ignored (each run
	// names its region). ECS.PoolSize bounds concurrent ECS requests per region.
	ECS ecs.Config
	// Regions are the regions this worker serves: it polls their task
	// queues, and only theirs, so workers can split regions. Required,
	// unless AllRegions.
	Regions []string
	// AllRegions: serve every region of the account; ResolveRegions sets
	// Regions from DescribeRegions before New.
	AllRegions bool
	// MaxConcurrentActivities bounds activities running at once, per task
	// queue (default 20, allowed 1..1000).
	MaxConcurrentActivities int
	// MaxConcurrentWorkflowTasks bounds workflow tasks at once, per task
	// queue (default 10, 2..1000).
	MaxConcurrentWorkflowTasks int
	// ActivitiesPerSecond limits activity starts on this worker, per task
	// queue (0: no limit).
	ActivitiesPerSecond float64
	// TaskQueueActivitiesPerSecond limits activity starts across all workers
	// of a task queue, enforced by the server (0: no limit).
	TaskQueueActivitiesPerSecond float64
	// StopTimeout is how long a stopping worker lets running activities
	// finish before it abandons them to be retried elsewhere (default 0:
	// the SDK's default).
	StopTimeout time.Duration
	// Logger, when set, hears what the stop could not wait for.
	Logger log.Logger
	// MaxInherited bounds the instances a run takes over to verify from
	// runs that closed without verifying them (0: guard.MaxInherited);
	// a takeover of more waits out their deadline instead.
	MaxInherited int
}

// Validate names the first bad field and its allowed range.
func (c Config) Validate() error {
	switch {
	case len(c.Regions) == 0 && !c.AllRegions:
		return errors.New("regions is required: the regions this worker serves, e.g. cn-hangzhou,cn-shanghai (each is a task queue <task-queue>-<region>)")
	case c.MaxConcurrentActivities < 0 || c.MaxConcurrentActivities > 1000:
		return fmt.Errorf("max concurrent activities is %d, allowed range is 1..1000 (0 means 20)", c.MaxConcurrentActivities)
	case c.MaxConcurrentWorkflowTasks < 0 || c.MaxConcurrentWorkflowTasks == 1 || c.MaxConcurrentWorkflowTasks > 1000:
		return fmt.Errorf("max concurrent workflow tasks is %d, allowed range is 2..1000 (0 means 10)", c.MaxConcurrentWorkflowTasks)
	case c.ActivitiesPerSecond < 0:
		return fmt.Errorf("activities per second is %g, must be 0 (no limit) or more", c.ActivitiesPerSecond)
	case c.TaskQueueActivitiesPerSecond < 0:
		return fmt.Errorf("task queue activities per second is %g, must be 0 (no limit) or more", c.TaskQueueActivitiesPerSecond)
	}
	if _, err := ecs.NewRegions(c.ECS, c.Regions); err != nil {
		return fmt.Errorf("ECS configuration: %w", err)
	}
	return nil
}

// ResolveRegions sets Regions, for a worker that serves every region
// (AllRegions), to the regions DescribeRegions lists, asked at the
// endpoint of ecs.DefaultAskRegion (any regional endpoint answers
// for the whole account). A region the account gains later is served
// after a restart.
func (c *Config) ResolveRegions(ctx context.Context) error {
	if !c.AllRegions {
		return nil
	}
	cfg := c.ECS
	cfg.Region = ecs.DefaultAskRegion
	if cfg.UserAgent == "" {
		cfg.UserAgent = version.UserAgent()
	}
	client, err := ecs.New(cfg)
	if err != nil {
		return fmt.Errorf("ECS configuration: %w", err)
	}
	list, err := client.DescribeRegions(ctx)
	if err != nil {
		return fmt.Errorf("--regions all: list the account's regions: %s", ecs.Explain(err))
	}
	c.Regions = c.Regions[:0]
	for _, r := range list {
		c.Regions = append(c.Regions, r.RegionID)
	}
	if len(c.Regions) == 0 {
		return errors.New("--regions all: DescribeRegions answered no region")
	}
	return nil
}

// Workers are the worker's pollers: one per region's task queue, and one
// on the base queue, where runs started before the queues were split (or
// with an explicit --task-queue) live.
type Workers struct {
	queues  []string
	ws      []worker.Worker
	regions *ecs.Regions
	logger  log.Logger
}

// Queues are the task queues polled, the base queue first.
func (w *Workers) Queues() []string { return append([]string(nil), w.queues...) }

// Start starts every poller; on an error the ones started are stopped.
func (w *Workers) Start() error {
	for i, x := range w.ws {
		if err := x.Start(); err != nil {
			for _, y := range w.ws[:i] {
				y.Stop()
			}
			return fmt.Errorf("start worker on %s: %w", w.queues[i], err)
		}
	}
	return nil
}

// Stop stops every poller, letting running activities finish within the
// stop timeout, then waits for the ECS requests already sent to be answered
// (at most a request's lifetime): a stopping worker never cuts a reboot
// call off between leaving and being answered, which would leave its retry
// unable to tell whether it happened.
func (w *Workers) Stop() {
	for _, x := range w.ws {
		x.Stop()
	}
	if w.regions == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.regions.RequestLifetime()+5*time.Second)
	defer cancel()
	if err := w.regions.Drain(ctx); err != nil && w.logger != nil {
		w.logger.Warn("stopped with ECS requests still under way", "Error", err)
	}
}

// Run starts the pollers and blocks until interrupt closes, then stops them.
func (w *Workers) Run(interrupt <-chan any) error {
	if err := w.Start(); err != nil {
		return err
	}
	<-interrupt
	w.Stop()
	return nil
}

// New builds (but does not start) the worker on c.
func New(c client.Client, cfg Config) (*Workers, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Regions) == 0 {
		return nil, errors.New("regions: every region was asked for, but ResolveRegions was not called")
	}
	if cfg.TaskQueue == "" {
		cfg.TaskQueue = config.DefaultTaskQueue
	}
	if cfg.MaxConcurrentActivities == 0 {
		cfg.MaxConcurrentActivities = 20
	}
	if cfg.MaxConcurrentWorkflowTasks == 0 {
		cfg.MaxConcurrentWorkflowTasks = 10
	}
	if cfg.ECS.UserAgent == "" {
		// ActionTrail shows who acted: every ECS request says fleetmend and
		// its version.
		cfg.ECS.UserAgent = version.UserAgent()
	}
	regions, err := ecs.NewRegions(cfg.ECS, cfg.Regions)
	if err != nil {
		return nil, fmt.Errorf("ECS configuration: %w", err)
	}
	// One set of ECS clients for all queues: the per-region pool bounds
	// the calls in flight to a region whichever queue asked.
	acts := &activities.Activities{Regions: regions, Intents: serverIntents{c: c}, Attempts: guard.Client{Temporal: c}, Queues: pollers{c: c}}
	guardActs := &guard.Activities{Client: c, MaxInherited: cfg.MaxInherited}
	ws := &Workers{regions: regions, logger: cfg.Logger}
	queues := []string{cfg.TaskQueue}
	for _, r := range cfg.Regions {
		queues = append(queues, config.RegionTaskQueue(cfg.TaskQueue, r))
	}
	for _, q := range queues {
		w := worker.New(c, q, worker.Options{
			MaxConcurrentActivityExecutionSize:     cfg.MaxConcurrentActivities,
			MaxConcurrentWorkflowTaskExecutionSize: cfg.MaxConcurrentWorkflowTasks,
			WorkerActivitiesPerSecond:              cfg.ActivitiesPerSecond,
			TaskQueueActivitiesPerSecond:           cfg.TaskQueueActivitiesPerSecond,
			WorkerStopTimeout:                      cfg.StopTimeout,
		})
		RegisterWorkflows(w)
		w.RegisterActivity(acts)
		w.RegisterActivity(guardActs)
		ws.queues = append(ws.queues, q)
		ws.ws = append(ws.ws, w)
	}
	return ws, nil
}

// RegisterWorkflows puts fleetmend's workflows on a worker or a replayer.
func RegisterWorkflows(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(workflows.RemediateRegion, workflow.RegisterOptions{Name: guard.RunWorkflowType})
	r.RegisterWorkflowWithOptions(workflows.RemediateBatch, workflow.RegisterOptions{Name: guard.BatchWorkflowType})
	r.RegisterWorkflowWithOptions(guard.RegionGuard, workflow.RegisterOptions{Name: guard.WorkflowType})
	r.RegisterWorkflowWithOptions(workflows.RemediateFleet, workflow.RegisterOptions{Name: guard.FleetWorkflowType})
}

// ReplayHistory replays one recorded history of a fleetmend workflow. It
// replays under the recorded workflow ID (the replayer's default is a
// made-up one), because batch IDs are derived from the run's workflow ID.
func ReplayHistory(logger log.Logger, h *historypb.History) error {
	replayer := worker.NewWorkflowReplayer()
	RegisterWorkflows(replayer)
	var opts worker.ReplayWorkflowHistoryOptions
	if evs := h.GetEvents(); len(evs) > 0 {
		attrs := evs[0].GetWorkflowExecutionStartedEventAttributes()
		opts.OriginalExecution.ID = attrs.GetWorkflowId()
		opts.OriginalExecution.RunID = attrs.GetOriginalExecutionRunId()
	}
	if opts.OriginalExecution.ID == "" {
		return fmt.Errorf("history has no WorkflowExecutionStarted event with a workflow ID")
	}
	return replayer.ReplayWorkflowHistoryWithOptions(logger, h, opts)
}
