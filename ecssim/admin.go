package ecssim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// adminError is the body of a failed /_sim/ call.
type adminError struct {
	Error string `json:"error"`
}

func writeAdminError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, adminError{Error: err.Error()})
}

// registerAdmin adds the unsigned test paths. They are for tests,
// benchmarks and demos on a trusted machine; they change the simulated
// world and must never be exposed where the RPC endpoint pretends to be a
// real cloud for untrusted clients.
func (s *Sim) registerAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET /_sim/truth", func(w http.ResponseWriter, r *http.Request) {
		if id := r.URL.Query().Get("instance"); id != "" {
			it, ok := s.Instance(id)
			if !ok {
				writeAdminError(w, http.StatusNotFound, fmt.Errorf("%w: %q", ErrUnknownInstance, id))
				return
			}
			writeJSON(w, http.StatusOK, it)
			return
		}
		writeJSON(w, http.StatusOK, s.Truth())
	})
	mux.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("PUT /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
		if err != nil {
			writeAdminError(w, http.StatusBadRequest, fmt.Errorf("reading faults: %w", err))
			return
		}
		if err := json.Unmarshal(body, &f); err != nil {
			writeAdminError(w, http.StatusBadRequest, err)
			return
		}
		if err := s.SetFaults(f); err != nil {
			writeAdminError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("GET /_sim/churn", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Churn())
	})
	mux.HandleFunc("PUT /_sim/churn", func(w http.ResponseWriter, r *http.Request) {
		var c Churn
		if !readJSONBody(w, r, "churn", &c) {
			return
		}
		if err := s.SetChurn(c); err != nil {
			writeAdminError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, s.Churn())
	})
	mux.HandleFunc("GET /_sim/hooks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, nonNil(s.Hooks()))
	})
	mux.HandleFunc("POST /_sim/hooks", func(w http.ResponseWriter, r *http.Request) {
		var h Hook
		if !readJSONBody(w, r, "hook", &h) {
			return
		}
		if err := s.AddHook(h); err != nil {
			writeAdminError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, nonNil(s.Hooks()))
	})
	mux.HandleFunc("DELETE /_sim/hooks", func(w http.ResponseWriter, r *http.Request) {
		s.ClearHooks()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sim/reset-counters", func(w http.ResponseWriter, r *http.Request) {
		s.ResetCounters()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sim/clock/advance", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("by"))
		if err != nil {
			writeAdminError(w, http.StatusBadRequest, fmt.Errorf("query parameter by must be a duration like 90s: %w", err))
			return
		}
		now, err := s.AdvanceClock(d)
		if err != nil {
			writeAdminError(w, http.StatusConflict, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]time.Time{"now": now})
	})
	mux.HandleFunc("POST /_sim/instances/{id}/{op}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		var err error
		switch op := r.PathValue("op"); op {
		case "vanish":
			err = s.Vanish(id)
		case "heal":
			err = s.HealAgent(id)
		case "silence":
			err = s.SilenceAgent(id)
		case "remove-agent":
			err = s.RemoveAgent(id)
		case "stop":
			err = s.SetState(id, StateStopped)
		case "start":
			err = s.SetState(id, StateRunning)
		case "tag":
			q := r.URL.Query()
			if !q.Has("key") {
				writeAdminError(w, http.StatusBadRequest, fmt.Errorf("tag needs the query parameters key and value (value may be empty)"))
				return
			}
			err = s.SetTag(id, q.Get("key"), q.Get("value"))
		case "untag":
			if !r.URL.Query().Has("key") {
				writeAdminError(w, http.StatusBadRequest, fmt.Errorf("untag needs the query parameter key"))
				return
			}
			err = s.RemoveTag(id, r.URL.Query().Get("key"))
		default:
			writeAdminError(w, http.StatusNotFound,
				fmt.Errorf("unknown operation %q; valid: vanish, heal, silence, remove-agent, stop, start, tag, untag", op))
			return
		}
		switch {
		case errors.Is(err, ErrUnknownInstance):
			writeAdminError(w, http.StatusNotFound, err)
			return
		case errors.Is(err, ErrVanished), errors.Is(err, ErrNoAgent):
			writeAdminError(w, http.StatusConflict, err)
			return
		case err != nil:
			writeAdminError(w, http.StatusBadRequest, err)
			return
		}
		it, _ := s.Instance(id)
		writeJSON(w, http.StatusOK, it)
	})
	mux.HandleFunc("/_sim/", func(w http.ResponseWriter, r *http.Request) {
		writeAdminError(w, http.StatusNotFound, fmt.Errorf("no such simulator path: %s %s", r.Method, r.URL.Path))
	})
}

// readJSONBody decodes the request body into out, answering 400 and
// returning false if it cannot. what names the body in the error.
func readJSONBody(w http.ResponseWriter, r *http.Request, what string, out any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		writeAdminError(w, http.StatusBadRequest, fmt.Errorf("reading %s: %w", what, err))
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields() // a misspelt field must not silently mean "default"
	if err := dec.Decode(out); err != nil {
		writeAdminError(w, http.StatusBadRequest, fmt.Errorf("decoding %s: %w", what, err))
		return false
	}
	return true
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}
