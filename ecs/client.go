package ecs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
)

// Client makes the six calls for one region. It is safe for concurrent use:
// each call borrows one SDK client from a pool of Config.PoolSize, so at most
// PoolSize requests are in flight and no SDK client is ever shared.
type Client struct {
	cfg  Config
	pool chan *sdkecs.Client
	// sent counts the requests on their way or being answered, so that a
	// stopping worker can let them finish (Drain).
	sent sync.WaitGroup
}

// New validates cfg and builds the pool. It makes no request: credentials
// from the default chain are resolved on the first call.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Client{cfg: cfg, pool: make(chan *sdkecs.Client, cfg.PoolSize)}
	for range cfg.PoolSize {
		sc, err := newSDKClient(cfg)
		if err != nil {
			return nil, err
		}
		c.pool <- sc
	}
	return c, nil
}

// Region is the region this client manages.
func (c *Client) Region() string { return c.cfg.Region }

// PoolSize is how many calls may be in flight at once.
func (c *Client) PoolSize() int { return c.cfg.PoolSize }

// RequestLifetime is the longest one request of this client can take
// before the client gives up on it: its connect and read timeouts.
func (c *Client) RequestLifetime() time.Duration { return c.cfg.ConnectTimeout + c.cfg.ReadTimeout }

func newSDKClient(cfg Config) (*sdkecs.Client, error) {
	sdkCfg := sdk.NewConfig().WithScheme(cfg.Scheme).WithAutoRetry(false)
	// Each SDK client gets its own credentials provider: the default chain
	// remembers which provider answered without a lock.
	var cred auth.Credential
	if sc := cfg.Credentials; sc != nil {
		if sc.SecurityToken != "" {
			cred = credentials.NewStaticSTSCredentialsProvider(sc.AccessKeyID, sc.AccessKeySecret, sc.SecurityToken)
		} else {
			cred = credentials.NewStaticAKCredentialsProvider(sc.AccessKeyID, sc.AccessKeySecret)
		}
	}
	sc, err := sdkecs.NewClientWithOptions(cfg.Region, sdkCfg, cred)
	if err != nil {
		return nil, fmt.Errorf("create ECS SDK client for region %s: %w", cfg.Region, err)
	}
	if cfg.Endpoint != "" {
		sc.Domain = cfg.Endpoint
		// The SDK honours HTTP_PROXY even for loopback; an endpoint override
		// (the simulator, a local proxy) is reached directly.
		sc.SetNoProxy(regexpQuote(cfg.endpointHost()))
	}
	sc.SetConnectTimeout(cfg.ConnectTimeout)
	sc.SetReadTimeout(cfg.ReadTimeout)
	if cfg.UserAgent != "" {
		// The SDK's own mechanism: it writes " name/version" after its
		// default header on every request of this client.
		name, version, _ := strings.Cut(cfg.UserAgent, "/")
		sc.AppendUserAgent(name, version)
	}
	return sc, nil
}

// prepare applies the per-request settings every call needs. Setting them on
// the request (not only the client) keeps the endpoint and scheme from
// depending on the SDK's precedence rules.
func (c *Client) prepare(r *requests.RpcRequest) {
	r.RegionId = c.cfg.Region
	r.Scheme = c.cfg.Scheme
	if c.cfg.Endpoint != "" {
		r.Domain = c.cfg.Endpoint
	}
	r.SetConnectTimeout(c.cfg.ConnectTimeout)
	r.SetReadTimeout(c.cfg.ReadTimeout)
}

// do runs fn with a pooled SDK client. The SDK has no context support, so the
// request runs in its own goroutine and do returns as soon as ctx ends; the
// SDK client goes back to the pool only when its request has finished. A
// call whose context ends, or whose start-by time (WithStartBy) passes,
// before it gets a client is not sent (NotSent); one whose context ends
// while it is under way is Interrupted: it may have reached ECS.
func (c *Client) do(ctx context.Context, action string, fn func(*sdkecs.Client) error) error {
	if err := ctx.Err(); err != nil {
		return notSent(action, err)
	}
	var sc *sdkecs.Client
	wait := ctx.Done()
	var late <-chan time.Time
	if by, ok := ctx.Value(startByKey{}).(time.Time); ok {
		t := time.NewTimer(time.Until(by))
		defer t.Stop()
		late = t.C
	}
	select {
	case sc = <-c.pool:
	case <-wait:
		return notSent(action, ctx.Err())
	case <-late:
		return notSent(action, errStartBy)
	}
	if by, ok := ctx.Value(startByKey{}).(time.Time); ok && time.Now().After(by) {
		c.pool <- sc
		return notSent(action, errStartBy)
	}
	done := make(chan error, 1)
	c.sent.Add(1)
	go func() {
		defer c.sent.Done()
		defer func() { c.pool <- sc }()
		start := time.Now()
		err := wrap(action, fn(sc))
		if c.cfg.Observe != nil {
			c.cfg.Observe(action, outcomeOf(err), time.Since(start))
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return &Error{Action: action, Class: Interrupted, Message: "stopped waiting for the answer: " + ctx.Err().Error(), Err: ctx.Err()}
	}
}

// Drain waits until every request this client has sent has been answered
// or has given up (its connect and read timeouts bound that), or until ctx
// ends. A worker that stops calls it before it exits: a request cut off on
// its way (a reboot) would leave ECS, and whoever retries, guessing.
func (c *Client) Drain(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		c.sent.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ecs %s: requests still under way: %w", c.cfg.Region, ctx.Err())
	}
}

// startByKey holds a call's start-by time in its context.
type startByKey struct{}

// errStartBy is why a call was not sent when its start-by time passed.
var errStartBy = errors.New("no client of the pool was free before the call's start-by time")

// WithStartBy returns a context whose calls are sent only if they can start
// by t: a call still waiting for a client of the pool then is not sent. A
// caller that decided on facts read at some moment uses it to bound the
// time between deciding and sending.
func WithStartBy(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, startByKey{}, t)
}

func notSent(action string, err error) error {
	return &Error{Action: action, Class: NotSent, Message: "not sent: " + err.Error(), Err: err}
}

// outcomeOf names a call's outcome for metrics: "OK", the ECS error code,
// or the class of an error that has none (a transport failure).
func outcomeOf(err error) string {
	if err == nil {
		return "OK"
	}
	if code := CodeOf(err); code != "" {
		return code
	}
	return string(ClassOf(err))
}

func regexpQuote(host string) string {
	// The SDK treats NO_PROXY entries as regular expressions.
	out := make([]byte, 0, len(host)+4)
	for i := 0; i < len(host); i++ {
		if host[i] == '.' {
			out = append(out, '\\')
		}
		out = append(out, host[i])
	}
	return string(out)
}
