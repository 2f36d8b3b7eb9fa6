package ecssim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is a simulator listening on a TCP address.
type Server struct {
	sim  *Sim
	ln   net.Listener
	http *http.Server
	done chan error
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves the
// simulator until Close or Shutdown.
func (s *Sim) Start(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ecssim: listen on %s: %w", addr, err)
	}
	srv := &Server{
		sim: s,
		ln:  ln,
		http: &http.Server{
			Handler:           s.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			// Keep-alive connections are what the SDK uses; a generous idle
			// timeout avoids reconnect churn in benchmarks.
			IdleTimeout: 2 * time.Minute,
		},
		done: make(chan error, 1),
	}
	go func() {
		err := srv.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		srv.done <- err
	}()
	return srv, nil
}

// Sim returns the simulator being served.
func (srv *Server) Sim() *Sim { return srv.sim }

// Endpoint is host:port, the form the SDK's client.Domain takes.
func (srv *Server) Endpoint() string { return srv.ln.Addr().String() }

// URL is the base URL with its scheme, e.g. http://127.0.0.1:8300, for
// plain HTTP clients of the /_sim/ paths. Give the SDK Endpoint instead:
// client.Domain takes no scheme.
func (srv *Server) URL() string { return "http://" + srv.Endpoint() }

// Close stops the server at once, closing open connections.
func (srv *Server) Close() error {
	if err := srv.http.Close(); err != nil {
		return fmt.Errorf("ecssim: close: %w", err)
	}
	return srv.wait()
}

// Shutdown stops accepting connections and waits for active requests, up
// to ctx's deadline.
func (srv *Server) Shutdown(ctx context.Context) error {
	if err := srv.http.Shutdown(ctx); err != nil {
		return fmt.Errorf("ecssim: shutdown: %w", err)
	}
	return srv.wait()
}

func (srv *Server) wait() error {
	if err := <-srv.done; err != nil {
		return fmt.Errorf("ecssim: serve: %w", err)
	}
	// Later calls to Close/Shutdown must not block on the drained channel.
	srv.done <- nil
	return nil
}
