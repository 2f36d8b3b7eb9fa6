package ecs

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"
)

// Config says which region to manage, where the ECS endpoint is and how to
// authenticate. The zero values of the optional fields are production defaults.
type Config struct {
	// Region is the ECS region ID, e.g. "cn-hangzhou". Required.
	Region string
	// Endpoint overrides the SDK's endpoint resolution: host[:port], no
	// scheme (e.g. "127.0.0.1:8300" for the simulator). Empty uses the SDK's
	// built-in endpoint for the region.
	Endpoint string
	// Scheme is "HTTPS" (default) or "HTTP". HTTP is only allowed together
	// with an Endpoint override: requests to Alibaba Cloud itself are always HTTPS.
	Scheme string
	// Credentials is a static key pair (the simulator, or a test). Nil uses the
	// SDK's default credential chain: ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET/
	// _SECURITY_TOKEN, OIDC, the CLI profile, the credentials file, the ECS RAM role.
	Credentials *StaticCredentials
	// ConnectTimeout and ReadTimeout bound each request (defaults 5 s and 10 s).
	ConnectTimeout time.Duration
	ReadTimeout    time.Duration
	// PoolSize is how many requests may be in flight at once through one
	// Client (default 8, allowed 1..256); each has its own SDK client.
	PoolSize int
	// UserAgent is a product token "name/version" (e.g. "fleetmend/1.2.3")
	// appended to the SDK's User-Agent header of every request, so the
	// calls can be told apart in ActionTrail and by the simulator. Empty
	// appends nothing.
	UserAgent string
	// Observe, when set, is told about every request that reached the
	// wire: its action, its outcome ("OK", the ECS error code, or the class
	// of an error without one) and how long it took. It is how the worker
	// counts ECS calls and their latency for Prometheus.
	Observe func(action, outcome string, took time.Duration)
}

// StaticCredentials is an access key pair (plus an STS token if any). Its
// String and GoString never print the secret, so a Config can be logged.
type StaticCredentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

func (c StaticCredentials) String() string {
	return fmt.Sprintf("StaticCredentials{AccessKeyID: %q, AccessKeySecret: [redacted], SecurityToken: %s}",
		c.AccessKeyID, redacted(c.SecurityToken))
}

// GoString keeps %#v from printing the secret.
func (c StaticCredentials) GoString() string { return c.String() }

func redacted(s string) string {
	if s == "" {
		return "[none]"
	}
	return "[redacted]"
}

// Defaults applied by withDefaults.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultReadTimeout    = 10 * time.Second
	DefaultPoolSize       = 8
	MaxPoolSize           = 256
)

var regionPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)+$`)

// userAgentPattern is an HTTP product token with its version (RFC 9110
// tchar on both sides of the slash). The SDK appends it as "name/version",
// so both parts are required.
var userAgentPattern = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+/[A-Za-z0-9!#$%&'*+.^_`|~-]+$")

// Validate reports the first field that is not acceptable, naming it and
// the allowed values.
func (c Config) Validate() error {
	if c.Region == "" {
		return fmt.Errorf("ecs config: Region is required (e.g. cn-hangzhou)")
	}
	if !regionPattern.MatchString(c.Region) {
		return fmt.Errorf("ecs config: Region %q is not a region ID (lowercase words joined by '-', e.g. cn-hangzhou)", c.Region)
	}
	switch strings.ToUpper(c.Scheme) {
	case "", "HTTPS":
	case "HTTP":
		if c.Endpoint == "" {
			return fmt.Errorf("ecs config: Scheme HTTP is only allowed with an Endpoint override (a simulator or a local proxy); Alibaba Cloud endpoints need HTTPS")
		}
	default:
		return fmt.Errorf("ecs config: Scheme %q is not allowed; use HTTPS or HTTP", c.Scheme)
	}
	if c.Endpoint != "" {
		if strings.Contains(c.Endpoint, "://") || strings.ContainsAny(c.Endpoint, "/?#") {
			return fmt.Errorf("ecs config: Endpoint %q must be host[:port] without scheme or path (set Scheme separately)", c.Endpoint)
		}
	}
	if c.Credentials != nil && (c.Credentials.AccessKeyID == "" || c.Credentials.AccessKeySecret == "") {
		return fmt.Errorf("ecs config: static Credentials need both AccessKeyID and AccessKeySecret")
	}
	if c.ConnectTimeout < 0 || c.ReadTimeout < 0 {
		return fmt.Errorf("ecs config: ConnectTimeout and ReadTimeout must be positive (0 means the default)")
	}
	if c.PoolSize < 0 || c.PoolSize > MaxPoolSize {
		return fmt.Errorf("ecs config: PoolSize is %d, allowed range is 1..%d (0 means %d)", c.PoolSize, MaxPoolSize, DefaultPoolSize)
	}
	if c.UserAgent != "" {
		if !userAgentPattern.MatchString(c.UserAgent) {
			return fmt.Errorf("ecs config: UserAgent %q must be one product token name/version without spaces, e.g. fleetmend/1.2.3", c.UserAgent)
		}
		// The SDK silently drops these names: it owns them itself.
		if name, _, _ := strings.Cut(c.UserAgent, "/"); strings.EqualFold(name, "core") || strings.EqualFold(name, "go") {
			return fmt.Errorf("ecs config: UserAgent %q uses a name the SDK reserves (core, go)", c.UserAgent)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Scheme == "" {
		c.Scheme = "HTTPS"
	}
	c.Scheme = strings.ToUpper(c.Scheme)
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}
	return c
}

// endpointHost is the host part of the endpoint override, for NO_PROXY.
func (c Config) endpointHost() string {
	if host, _, err := net.SplitHostPort(c.Endpoint); err == nil {
		return host
	}
	return c.Endpoint
}
