package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/server/api/adminservice/v1"
	enumsspb "go.temporal.io/server/api/enums/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetmend/fleetmend/internal/pgtest"
	"github.com/fleetmend/fleetmend/internal/temporalcfg"
)

// Cluster is a running Temporal cluster of separate processes.
type Cluster struct {
	t     *testing.T
	bin   string
	dir   string
	pg    *pgtest.Server
	ip    string
	dynCf string
	// ports are the ports every host is told about; each host's own
	// replace its service's entry.
	ports map[temporalcfg.Service]temporalcfg.Ports
	mu    sync.Mutex
	hosts []*Host
	conn  *grpc.ClientConn
	Admin adminservice.AdminServiceClient
}

// Host is one server process.
type Host struct {
	Name    string
	Service temporalcfg.Service
	Ports   temporalcfg.Ports
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Topology is how many hosts of each service the cluster runs.
type Topology map[temporalcfg.Service]int

// StartCluster starts every host of top on loopback, each on its own free
// ports, against pg's databases (set up already), and waits until the
// frontend sees every host in its ring. The test's cleanup kills them.
func StartCluster(t *testing.T, bin string, pg *pgtest.Server, top Topology) *Cluster {
	t.Helper()
	dyn, err := filepath.Abs(filepath.Join("..", "..", temporalcfg.DynamicConfigFile))
	require.NoError(t, err)
	c := &Cluster{t: t, bin: bin, dir: t.TempDir(), pg: pg, ip: "127.0.0.1", dynCf: dyn,
		ports: map[temporalcfg.Service]temporalcfg.Ports{}}
	held := []net.Listener{}
	free := func() int {
		l := listenLowPort(t, c.ip)
		held = append(held, l)
		return l.Addr().(*net.TCPAddr).Port
	}
	for _, svc := range temporalcfg.Services() {
		for i := 1; i <= top[svc]; i++ {
			h := &Host{Name: fmt.Sprintf("%s-%d", svc, i), Service: svc, Ports: temporalcfg.Ports{GRPC: free(), Membership: free()}}
			if svc == temporalcfg.Frontend {
				h.Ports.HTTP = free()
			}
			h.logPath = filepath.Join(c.dir, h.Name+".log")
			if _, ok := c.ports[svc]; !ok {
				c.ports[svc] = h.Ports
			}
			c.hosts = append(c.hosts, h)
		}
	}
	// Every port was held until all were chosen, so none is handed out twice.
	for _, l := range held {
		require.NoError(t, l.Close())
	}
	t.Cleanup(c.stop)
	c.conn, err = grpc.NewClient(c.FrontendAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	c.Admin = adminservice.NewAdminServiceClient(c.conn)
	// The frontend first, alone: on a fresh database every host writes the
	// cluster metadata and the system namespace when it starts, and the
	// hosts that lose that race exit ("failed to initialize current cluster
	// metadata"). An orchestrator would restart them; here the others start
	// once the frontend answers, when both are written.
	for _, h := range c.Hosts(temporalcfg.Frontend) {
		c.start(h)
	}
	c.WaitRings(map[string]int{string(temporalcfg.Frontend): top[temporalcfg.Frontend]}, formTimeout)
	for _, h := range c.hosts {
		if h.Service != temporalcfg.Frontend {
			c.start(h)
		}
	}
	want := map[string]int{}
	for svc, n := range top {
		want[string(svc)] = n
	}
	c.WaitRings(want, formTimeout)
	return c
}

// Ports a host may use: below 32768, because Temporal's SQL schema keeps a
// host's port in a SMALLINT column (cluster_membership.rpc_port) and a host
// on a higher port dies at start-up with "value ... is out of range for type
// smallint". That rules out the ports the kernel hands out for ":0" (its
// ephemeral range starts at 32768 by default) — which in turn keeps those
// from being taken by some outgoing connection while the cluster runs.
const lowPortMin, lowPortMax = 20000, 32767

// listenLowPort listens on a free port in [lowPortMin, lowPortMax].
func listenLowPort(t *testing.T, ip string) net.Listener {
	t.Helper()
	var err error
	for range 200 {
		port := lowPortMin + rand.IntN(lowPortMax-lowPortMin+1)
		var l net.Listener
		if l, err = net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port))); err == nil {
			return l
		}
	}
	t.Fatalf("no free port in %d..%d on %s: %v", lowPortMin, lowPortMax, ip, err)
	return nil
}

// FrontendAddr is the frontend's gRPC address.
func (c *Cluster) FrontendAddr() string {
	return net.JoinHostPort(c.ip, strconv.Itoa(c.ports[temporalcfg.Frontend].GRPC))
}

// HostAt is the host whose gRPC address is addr.
func (c *Cluster) HostAt(addr string) *Host {
	c.t.Helper()
	for _, h := range c.hosts {
		if net.JoinHostPort(c.ip, strconv.Itoa(h.Ports.GRPC)) == addr {
			return h
		}
	}
	c.t.Fatalf("no host of the cluster serves %s", addr)
	return nil
}

// Hosts of one service.
func (c *Cluster) Hosts(svc temporalcfg.Service) []*Host {
	var out []*Host
	for _, h := range c.hosts {
		if h.Service == svc {
			out = append(out, h)
		}
	}
	return out
}

func (c *Cluster) start(h *Host) {
	c.t.Helper()
	var ports []string
	for _, svc := range temporalcfg.Services() {
		p := c.ports[svc]
		if svc == h.Service {
			p = h.Ports
		}
		spec := fmt.Sprintf("%s=%d:%d", svc, p.GRPC, p.Membership)
		if p.HTTP != 0 {
			spec += ":" + strconv.Itoa(p.HTTP)
		}
		ports = append(ports, spec)
	}
	logFile, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(c.t, err)
	cmd := exec.Command(c.bin, "--service", string(h.Service), "--ip", c.ip, "--ports", strings.Join(ports, ","),
		"--postgres", c.pg.Addr(), "--postgres-user", pgtest.User, "--postgres-attributes", "sslmode=disable",
		"--dynamic-config", c.dynCf, "--log-level", "warn")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TEMPORALSVC_POSTGRES_PASSWORD=" + c.pg.Password()}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	dieWithTest(cmd)
	require.NoError(c.t, cmd.Start(), "start %s", h.Name)
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(exited)
	}()
	c.mu.Lock()
	h.cmd, h.exited = cmd, exited
	c.mu.Unlock()
}

// Kill sends SIGKILL to h, as a lost node or an OOM kill would, and waits
// until it is gone.
func (c *Cluster) Kill(h *Host) {
	c.t.Helper()
	c.mu.Lock()
	cmd, exited := h.cmd, h.exited
	c.mu.Unlock()
	require.NoError(c.t, cmd.Process.Signal(syscall.SIGKILL))
	<-exited
}

// Restart starts h again on its ports and waits until it has joined the
// cluster: a new session of it is registered and the frontend's ring of
// its service is whole again.
func (c *Cluster) Restart(h *Host, timeout time.Duration) {
	c.t.Helper()
	since := time.Now()
	c.start(h)
	role := enumsspb.CLUSTER_MEMBER_ROLE_HISTORY
	switch h.Service {
	case temporalcfg.Frontend:
		role = enumsspb.CLUSTER_MEMBER_ROLE_FRONTEND
	case temporalcfg.Matching:
		role = enumsspb.CLUSTER_MEMBER_ROLE_MATCHING
	case temporalcfg.Worker:
		role = enumsspb.CLUSTER_MEMBER_ROLE_WORKER
	}
	poll(c.t, timeout, h.Name+" registers a new session", func() error {
		c.requireRunning()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := c.Admin.ListClusterMembers(ctx, &adminservice.ListClusterMembersRequest{
			Role: role, SessionStartedAfterTime: timestamppb.New(since),
		})
		if err != nil {
			return err
		}
		// A member's address in this table is its ringpop (membership)
		// address.
		for _, m := range resp.GetActiveMembers() {
			if int(m.GetRpcPort()) == h.Ports.Membership {
				return nil
			}
		}
		return fmt.Errorf("no session of %s since %s", h.Name, since.Format(time.RFC3339Nano))
	})
	want := map[string]int{string(h.Service): len(c.Hosts(h.Service))}
	c.WaitRings(want, timeout)
}

// WaitRings waits until the frontend's membership rings have want[role]
// members each.
func (c *Cluster) WaitRings(want map[string]int, timeout time.Duration) {
	c.t.Helper()
	poll(c.t, timeout, "the cluster's rings", func() error {
		c.requireRunning()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := c.Admin.DescribeCluster(ctx, &adminservice.DescribeClusterRequest{})
		if err != nil {
			return err
		}
		got := map[string]int{}
		for _, r := range resp.GetMembershipInfo().GetRings() {
			got[r.GetRole()] = int(r.GetMemberCount())
		}
		for role, n := range want {
			if got[role] != n {
				return fmt.Errorf("rings %v, want %v", got, want)
			}
		}
		return nil
	})
}

// WaitShards waits until the history host h owns a number of shards that
// ok accepts, and returns them. The host answers for itself, so this also
// proves it serves.
func (c *Cluster) WaitShards(h *Host, what string, ok func(n int) bool, timeout time.Duration) []int32 {
	c.t.Helper()
	var shards []int32
	poll(c.t, timeout, h.Name+" "+what, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := c.Admin.DescribeHistoryHost(ctx, &adminservice.DescribeHistoryHostRequest{
			HostAddress: net.JoinHostPort(c.ip, strconv.Itoa(h.Ports.GRPC)),
		})
		if err != nil {
			return err
		}
		if shards = resp.GetShardIds(); !ok(len(shards)) {
			return fmt.Errorf("it owns shards %v", shards)
		}
		return nil
	})
	return shards
}

// requireRunning fails the test at once when a host died on its own,
// instead of letting a readiness wait run into its deadline.
func (c *Cluster) requireRunning() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range c.hosts {
		select {
		case <-h.exited:
			c.t.Fatalf("%s exited on its own; its log:\n%s", h.Name, tail(h.logPath, 30))
		default:
		}
	}
}

// stop kills every host (the data is thrown away, so nothing is gained by
// a graceful stop) and shows their logs' last lines when the test failed.
func (c *Cluster) stop() {
	if c.conn != nil {
		_ = c.conn.Close()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range c.hosts {
		if h.cmd == nil {
			continue
		}
		_ = h.cmd.Process.Kill()
		<-h.exited
		if c.t.Failed() {
			c.t.Logf("%s log (last lines):\n%s", h.Name, tail(h.logPath, 25))
		}
	}
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
