package devserver

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// newUIServer builds the Temporal Web UI server (not started) for the
// frontend at frontendHostPort. The UI's assets come embedded in the
// ui-server module, so nothing is downloaded.
//
// Known upstream limitations: the UI server's gRPC connection to the
// frontend is never closed (a few idle goroutines stay after Stop, retrying
// to reconnect with backoff), and it logs through a private logger that
// cannot be redirected, which is why its request log is switched off.
func newUIServer(cfg settings, frontendHostPort string) (srv *uiserver.Server, err error) {
	host := cfg.listenIP
	if strings.Contains(host, ":") {
		// The UI server joins host and port with "%s:%d".
		host = "[" + host + "]"
	}
	port := strconv.Itoa(cfg.ports.ui)
	uiCfg := &uiconfig.Config{
		TemporalGRPCAddress: frontendHostPort,
		Host:                host,
		Port:                cfg.ports.ui,
		EnableUI:            true,
		DefaultNamespace:    cfg.Namespace,
		CORS: uiconfig.CORS{
			// The UI calls its own origin, so CORS is not involved for a
			// browser on the UI page; these allow tools served from the
			// other loopback spelling (localhost vs 127.0.0.1) too. The
			// CSRF check accepts cross-site writes only from these origins.
			AllowOrigins: []string{
				"http://" + net.JoinHostPort(cfg.connectIP, port),
				"http://" + net.JoinHostPort("localhost", port),
			},
			// We serve plain HTTP. A Secure CSRF cookie would never be
			// stored by the browser and every write action (signal,
			// terminate, ...) would fail the CSRF check.
			CookieInsecure: true,
		},
		// Codec and Auth stay zero: no remote codec server, no login.
		// HideLogs silences echo's banner and per-request log lines on
		// stdout, which we cannot route to Options.Logger.
		HideLogs: true,
		// Otherwise the browser fetches release news from the internet.
		DisableNewsFetch: true,
		// RefreshInterval stays 0: the config is static, and a non-zero
		// interval starts a goroutine that Stop never ends.
	}
	// NewServer panics on configuration errors instead of returning them.
	defer func() {
		if r := recover(); r != nil {
			srv, err = nil, fmt.Errorf("devserver: build UI server: panic: %v", r)
		}
	}()
	return uiserver.NewServer(uiserveroptions.WithConfigProvider(uiCfg)), nil
}
