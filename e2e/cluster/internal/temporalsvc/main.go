// Command temporalsvc runs ONE service of a Temporal cluster (frontend,
// history, matching or worker) from go.temporal.io/server, on PostgreSQL,
// with the configuration package temporalcfg/serverconfig builds from
// temporalcfg's settings — the compose stack's. It is the cluster test's
// server binary (e2e/cluster), one process per service host, as
// `temporal-server start --service <name>` is in a real deployment.
//
//	temporalsvc --service history --ip 127.0.0.1 \
//	  --ports frontend=7233:6933:7243,history=7234:6934,matching=7235:6935,worker=7239:6939 \
//	  --postgres 127.0.0.1:5432 --postgres-user temporal --dynamic-config /abs/deploy/dynamicconfig/development-sql.yaml
//
// The PostgreSQL password comes from $TEMPORALSVC_POSTGRES_PASSWORD, so it
// is not in the process list. SIGINT or SIGTERM stops the service.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/temporal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fleetmend/fleetmend/internal/temporalcfg"
	"github.com/fleetmend/fleetmend/internal/temporalcfg/serverconfig"
)

// PasswordEnv holds the PostgreSQL password.
const passwordEnv = "TEMPORALSVC_POSTGRES_PASSWORD"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "temporalsvc:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("temporalsvc", flag.ContinueOnError)
	service := fs.String("service", "", "the service to run: frontend, history, matching or worker")
	ip := fs.String("ip", "127.0.0.1", "address to listen on and to advertise to the other hosts")
	ports := fs.String("ports", "", "every service's ports, service=grpc:membership[:http],... (this host's own included)")
	pg := fs.String("postgres", "", "PostgreSQL host:port")
	pgUser := fs.String("postgres-user", "", "PostgreSQL user")
	pgAttrs := fs.String("postgres-attributes", "", "connection attributes as a URL query, e.g. sslmode=disable")
	dynamicConfig := fs.String("dynamic-config", "", "absolute path of the dynamic config file")
	level := fs.String("log-level", "warn", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	portMap, err := parsePorts(*ports)
	if err != nil {
		return fmt.Errorf("--ports: %w", err)
	}
	attrs, err := url.ParseQuery(*pgAttrs)
	if err != nil {
		return fmt.Errorf("--postgres-attributes: %w", err)
	}
	conn := config.SQL{ConnectAddr: *pg, User: *pgUser, Password: os.Getenv(passwordEnv), ConnectAttributes: map[string]string{}}
	for k := range attrs {
		conn.ConnectAttributes[k] = attrs.Get(k)
	}
	fe := portMap[temporalcfg.Frontend]
	cfg, err := serverconfig.New(serverconfig.Host{
		Service: temporalcfg.Service(*service), IP: *ip, Ports: portMap,
		Frontend: serverconfig.Address(*ip, fe.GRPC), FrontendHTTP: serverconfig.Address(*ip, fe.HTTP),
		SQL: conn, DynamicConfigFile: *dynamicConfig,
	})
	if err != nil {
		return err
	}
	var lvl zapcore.Level
	if err := lvl.Set(*level); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.Encoding = "console"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	zl, err := zc.Build(zap.Fields(zap.String("host", *service+"@"+strconv.Itoa(portMap[temporalcfg.Service(*service)].GRPC))))
	if err != nil {
		return fmt.Errorf("logger: %w", err)
	}
	defer func() { _ = zl.Sync() }()

	srv, err := temporal.NewServer(
		temporal.ForServices([]string{*service}),
		temporal.WithConfig(cfg),
		temporal.WithLogger(log.NewZapLogger(zl)),
		// Stops the service on SIGINT or SIGTERM; Start blocks until then.
		temporal.InterruptOn(temporal.InterruptCh()),
		// A test cluster on loopback, like the compose stack: no auth.
		temporal.WithAuthorizer(authorization.NewNoopAuthorizer()),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return authorization.NewNoopClaimMapper() }),
	)
	if err != nil {
		return fmt.Errorf("build the %s service: %w", *service, err)
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("run the %s service: %w", *service, err)
	}
	return nil
}

// parsePorts reads service=grpc:membership[:http],...
func parsePorts(s string) (map[temporalcfg.Service]temporalcfg.Ports, error) {
	out := map[temporalcfg.Service]temporalcfg.Ports{}
	for _, item := range strings.Split(s, ",") {
		name, spec, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not service=grpc:membership[:http]", item)
		}
		var nums []int
		for _, f := range strings.Split(spec, ":") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("%s: %q is not a port", name, f)
			}
			nums = append(nums, n)
		}
		if len(nums) < 2 || len(nums) > 3 {
			return nil, fmt.Errorf("%s: want grpc:membership[:http], got %q", name, spec)
		}
		p := temporalcfg.Ports{GRPC: nums[0], Membership: nums[1]}
		if len(nums) == 3 {
			p.HTTP = nums[2]
		}
		out[temporalcfg.Service(name)] = p
	}
	if len(out) == 0 {
		return nil, errors.New("no ports")
	}
	return out, nil
}
