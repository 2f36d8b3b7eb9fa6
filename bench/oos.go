package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fleetmend/fleetmend/ecs"
)

// oosLoop is the baseline fleetmend is measured against: what an
// Operation Orchestration Service template such as
// ACS::ECS::InstallCloudAssistant does with a Loop over the region's
// instances at its default concurrency. Per instance: check it is Running,
// check its agent, and if the agent is unhealthy wait a minute, check
// again, install, reboot (always), wait until Running, wait until the agent
// reports (or the same deadline fleetmend uses). Written for the bench
// from that description; it calls the same simulator through the same
// client, so the two are measured on the same model.
type oosLoop struct {
	client      *ecs.Client
	concurrency int
	wait        time.Duration // the template's one-minute pause, scaled
	poll        time.Duration // how often the waits look again
	deadline    time.Duration // how long "wait until the agent reports" waits
}

type oosResult struct {
	Makespan  time.Duration
	Instances int
	Repaired  int
	Errors    int
}

func (o oosLoop) run(ctx context.Context) (oosResult, error) {
	start := time.Now()
	ids, err := o.list(ctx)
	if err != nil {
		return oosResult{}, err
	}
	var repaired, errs atomic.Int64
	work := make(chan string)
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				switch ok, err := o.one(ctx, id); {
				case err != nil:
					errs.Add(1)
				case ok:
					repaired.Add(1)
				}
			}
		}()
	}
	go func() {
		defer close(work)
		for _, id := range ids {
			select {
			case work <- id:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	return oosResult{Makespan: time.Since(start), Instances: len(ids), Repaired: int(repaired.Load()),
		Errors: int(errs.Load())}, ctx.Err()
}

// list reads the loop's targets: every instance of the region.
func (o oosLoop) list(ctx context.Context) ([]string, error) {
	var ids []string
	token := ""
	for {
		p, err := o.client.AgentStatusPage(ctx, ecs.AgentPageInput{NextToken: token, MaxResults: ecs.MaxPageSize})
		if err != nil {
			return nil, fmt.Errorf("list instances: %w", err)
		}
		for _, a := range p.Agents {
			ids = append(ids, a.InstanceID)
		}
		if token = p.NextToken; token == "" {
			return ids, nil
		}
	}
}

// one runs the template's steps on one instance; it reports whether it
// repaired it.
func (o oosLoop) one(ctx context.Context, id string) (bool, error) {
	running := func() (bool, error) {
		p, err := o.client.ListInstanceStatus(ctx, ecs.ListInput{InstanceIDs: []string{id}})
		if err != nil {
			return false, err
		}
		return len(p.Instances) == 1 && p.Instances[0].State == ecs.StateRunning, nil
	}
	healthy := func() (bool, error) {
		a, err := o.client.AgentStatus(ctx, []string{id}, "")
		if err != nil {
			return false, err
		}
		return len(a) == 1 && a[0].Healthy, nil
	}
	if ok, err := running(); err != nil || !ok {
		return false, err
	}
	if ok, err := healthy(); err != nil || ok {
		return false, err
	}
	if err := sleep(ctx, o.wait); err != nil {
		return false, err
	}
	if ok, err := running(); err != nil || !ok {
		return false, err
	}
	if ok, err := healthy(); err != nil || ok {
		return false, err
	}
	if _, err := o.client.InstallAgent(ctx, []string{id}); err != nil {
		return false, err
	}
	if _, err := o.client.RebootInstances(ctx, []string{id}, false); err != nil {
		return false, err
	}
	if err := o.waitFor(ctx, running, o.deadline); err != nil {
		return false, err
	}
	if err := o.waitFor(ctx, healthy, o.deadline); err != nil {
		return false, nil // timed out: not repaired
	}
	return true, nil
}

func (o oosLoop) waitFor(ctx context.Context, cond func() (bool, error), limit time.Duration) error {
	until := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(until) {
			return fmt.Errorf("timed out")
		}
		if err := sleep(ctx, o.poll); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
