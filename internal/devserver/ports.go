package devserver

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// internalIP is where history, matching and the worker service listen. They
// only talk to each other and to the frontend, so they never need to be
// reachable from outside this host.
const internalIP = "127.0.0.1"

// choosePorts picks every port the server needs and checks that explicitly
// requested ones are free.
//
// Checking matters more than usual here: both the Temporal server and the UI
// server end the whole process (log.Fatal) when they cannot bind. A check is
// racy by nature, but it turns the common case (something already running
// on 7233/8233) into an ordinary error.
//
// All probe listeners stay open until every port has been chosen, so the
// kernel cannot hand out the same free port twice.
func choosePorts(listenIP string, frontendPort, uiPort int) (ports, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	take := func(ip string, port int, what string) (int, error) {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			if port == 0 {
				return 0, fmt.Errorf("devserver: find a free port for %s on %s: %w", what, ip, err)
			}
			return 0, fmt.Errorf("devserver: %s port %d on %s is not available: %w", what, port, ip, err)
		}
		held = append(held, l)
		addr, ok := l.Addr().(*net.TCPAddr)
		if !ok {
			return 0, errors.New("devserver: listener address is not TCP")
		}
		return addr.Port, nil
	}

	var p ports
	var err error
	if p.frontend, err = take(listenIP, frontendPort, "frontend"); err != nil {
		return ports{}, err
	}
	if p.frontendHTTP, err = take(listenIP, 0, "frontend HTTP API"); err != nil {
		return ports{}, err
	}
	if p.history, err = take(internalIP, 0, "history"); err != nil {
		return ports{}, err
	}
	if p.matching, err = take(internalIP, 0, "matching"); err != nil {
		return ports{}, err
	}
	if p.worker, err = take(internalIP, 0, "worker"); err != nil {
		return ports{}, err
	}
	if uiPort != -1 {
		if p.ui, err = take(listenIP, uiPort, "UI"); err != nil {
			return ports{}, err
		}
	}
	return p, nil
}
