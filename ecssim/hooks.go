package ecssim

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Hook provokes a race a test needs: when a request of Action that names
// InstanceID (in InstanceId, InstanceId.N or InstanceIds) passes the
// gateway (faults and authentication), the hook fires, at most Times times,
// before the action runs. It heals the agent (HealAgent) and/or stops the
// instance (SetState Stopped) and, if FailCode is set, answers that error
// (its real status and message, as for Faults.ErrorCode) without running
// the action at all.
//
// For example {Action: "InstallCloudAssistant", InstanceID: x, Times: 1,
// HealAgent: true, FailCode: "ServiceUnavailable"} makes x recover right
// before an install call, which fails once and is retried by the caller.
type Hook struct {
	Action     string `json:"action"`
	InstanceID string `json:"instance_id"`
	// Times is how often the hook may fire; 0 means once. Hooks report
	// what is left of it.
	Times        int    `json:"times"`
	HealAgent    bool   `json:"heal_agent,omitempty"`
	StopInstance bool   `json:"stop_instance,omitempty"`
	FailCode     string `json:"fail_code,omitempty"`
}

func (h *Hook) normalize() error {
	if !isAction(h.Action) {
		return fmt.Errorf("hook: Action %q is not implemented; valid: %s", h.Action, strings.Join(Actions(), ", "))
	}
	if h.InstanceID == "" {
		return fmt.Errorf("hook: InstanceID is required")
	}
	if h.Times < 0 {
		return fmt.Errorf("hook: Times must not be negative, got %d", h.Times)
	}
	if h.Times == 0 {
		h.Times = 1
	}
	if h.FailCode != "" && !isInjectableCode(h.FailCode) {
		return fmt.Errorf("hook: FailCode %q is not one the simulator can inject; valid: %s",
			h.FailCode, strings.Join(InjectableErrorCodes(), ", "))
	}
	if !h.HealAgent && !h.StopInstance && h.FailCode == "" {
		return fmt.Errorf("hook: does nothing; set HealAgent, StopInstance or FailCode")
	}
	return nil
}

// AddHook adds a hook after the existing ones; hooks fire in the order
// they were added. The instance need not exist yet.
func (s *Sim) AddHook(h Hook) error {
	if err := h.normalize(); err != nil {
		return fmt.Errorf("ecssim: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, h)
	return nil
}

// Hooks returns the hooks that may still fire, Times being what is left.
func (s *Sim) Hooks() []Hook {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.hooks)
}

// ClearHooks removes every hook.
func (s *Sim) ClearHooks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = nil
}

// requestInstanceIDs is every instance ID a request names, in any of the
// ID parameters, whatever its action reads.
func requestInstanceIDs(v url.Values) []string {
	ids := instanceIDParams(v)
	if id := v.Get("InstanceId"); id != "" {
		ids = append(ids, id)
	}
	if raw := v.Get("InstanceIds"); raw != "" {
		var list []string
		if json.Unmarshal([]byte(raw), &list) == nil {
			ids = append(ids, list...)
		}
	}
	return ids
}

// fireHooks runs the hooks that match a request of action and returns the
// first FailCode among those that fired ("" for none).
func (s *Sim) fireHooks(action string, v url.Values) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hooks) == 0 {
		return ""
	}
	var ids []string // computed only when some hook is about this action
	failCode := ""
	kept := s.hooks[:0]
	for _, h := range s.hooks {
		if h.Action == action {
			if ids == nil {
				ids = requestInstanceIDs(v)
			}
			if slices.Contains(ids, h.InstanceID) {
				s.fireHook(h)
				if failCode == "" {
					failCode = h.FailCode
				}
				h.Times--
			}
		}
		if h.Times > 0 {
			kept = append(kept, h)
		}
	}
	clear(s.hooks[len(kept):])
	s.hooks = kept
	return failCode
}

// fireHook applies one hook's change to its instance, if it lives.
// Callers hold s.mu.
func (s *Sim) fireHook(h Hook) {
	now := s.now()
	in, err := s.get(h.InstanceID, now)
	if err != nil {
		return // unknown or vanished: nothing to heal or stop; FailCode still applies
	}
	if h.HealAgent {
		s.healAgent(in, now)
	}
	if h.StopInstance {
		s.setState(in, StateStopped, now)
	}
}
