package devserver

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/dynamicconfig"
	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/durationpb"
)

// ensureNamespaceReady waits until the frontend serves the namespace and
// makes sure every requested search attribute is registered on it.
func ensureNamespaceReady(ctx context.Context, hostPort string, cfg settings) error {
	c, err := dialWithRetry(ctx, client.Options{
		HostPort:  hostPort,
		Namespace: cfg.Namespace,
		Logger:    newSDKLogger(cfg.Logger),
	})
	if err != nil {
		return err
	}
	defer c.Close()

	// On SQLite the namespace row was written before start, so this
	// normally succeeds at once; it proves the frontend can read it. On
	// PostgreSQL a fresh database has no namespace yet: it is registered
	// through the API.
	_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: cfg.Namespace})
	var notFound *serviceerror.NamespaceNotFound
	if cfg.pg != nil && errors.As(err, &notFound) {
		err = registerNamespace(ctx, c, cfg.Namespace)
	}
	if err != nil {
		return fmt.Errorf("devserver: describe namespace %q: %w", cfg.Namespace, err)
	}
	if len(cfg.SearchAttributes) == 0 {
		return nil
	}

	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{
		Namespace: cfg.Namespace,
	})
	if err != nil {
		return fmt.Errorf("devserver: list search attributes of %q: %w", cfg.Namespace, err)
	}
	missing, err := missingSearchAttributes(cfg.SearchAttributes, have)
	if err != nil {
		return fmt.Errorf("devserver: namespace %q: %w", cfg.Namespace, err)
	}
	if len(missing) == 0 {
		return nil
	}

	// Only reached when an existing database lacks attributes added to
	// Options since it was created (a fresh namespace gets them all in
	// prepareDatabase). On SQLite visibility this maps each new name to a
	// free preallocated column of the namespace; it skips names that
	// already exist, so a concurrent or repeated call is harmless.
	if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        cfg.Namespace,
		SearchAttributes: missing,
	}); err != nil {
		return fmt.Errorf("devserver: add search attributes %v to %q: %w", sortedNames(missing), cfg.Namespace, err)
	}
	cfg.Logger.Info("Registered new search attributes",
		zap.Strings("names", sortedNames(missing)), zap.String("namespace", cfg.Namespace))

	// The new names live in the namespace record, which each service only
	// re-reads on its namespace cache refresh; until then, starting a
	// workflow with them fails. There is no API to observe another
	// service's cache, so wait out two refresh periods. This path runs only
	// when attributes were added to an existing database.
	wait := 2 * refreshInterval(cfg.DynamicConfig)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("devserver: waiting for new search attributes to propagate: %w", ctx.Err())
	}
}

// registerNamespace registers ns and waits until the frontend serves it
// (its namespace cache is refreshed every namespaceCacheRefresh): listing
// its workflows succeeds.
func registerNamespace(ctx context.Context, c client.Client, ns string) error {
	_, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: ns, WorkflowExecutionRetentionPeriod: durationpb.New(namespaceRetention),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register namespace: %w", err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := c.WorkflowService().ListWorkflowExecutions(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: ns, PageSize: 1})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the new namespace to be served: %w (last error: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// missingSearchAttributes returns the wanted attributes not yet registered,
// and fails on a name that exists with another type or is a system
// attribute: both would otherwise only show up later as confusing
// visibility errors.
func missingSearchAttributes(
	want map[string]enums.IndexedValueType,
	have *operatorservice.ListSearchAttributesResponse,
) (map[string]enums.IndexedValueType, error) {
	missing := map[string]enums.IndexedValueType{}
	for _, name := range sortedNames(want) {
		typ := want[name]
		if typ == enums.INDEXED_VALUE_TYPE_UNSPECIFIED {
			return nil, fmt.Errorf("search attribute %q has no type", name)
		}
		if got, ok := have.GetSystemAttributes()[name]; ok {
			return nil, fmt.Errorf("search attribute %q is a system attribute (type %s)", name, got)
		}
		got, ok := have.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = typ
		case got != typ:
			return nil, fmt.Errorf("search attribute %q is registered as %s, not %s; "+
				"the type of a registered attribute cannot change (use a new name or a fresh DB file)", name, got, typ)
		}
	}
	return missing, nil
}

// dialWithRetry connects an SDK client, retrying while the frontend is still
// coming up, until ctx ends.
func dialWithRetry(ctx context.Context, opts client.Options) (client.Client, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := client.DialContext(ctx, opts)
		if err == nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("devserver: connect to frontend %s: %w (last error: %v)", opts.HostPort, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// refreshInterval is the namespace cache refresh interval in effect: the
// caller's override if it is a duration, else our default.
func refreshInterval(overrides map[string]any) time.Duration {
	for k, v := range overrides {
		if dynamicconfig.MakeKey(k) != dynamicconfig.NamespaceCacheRefreshInterval.Key() {
			continue
		}
		switch d := v.(type) {
		case time.Duration:
			return d
		case string:
			if parsed, err := time.ParseDuration(d); err == nil {
				return parsed
			}
		}
	}
	return namespaceCacheRefresh
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
