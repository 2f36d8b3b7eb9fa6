package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Kind is a destination's platform: it decides the message format, the
// signing and how the answer is read.
type Kind string

const (
	KindWebhook  Kind = "webhook"  // generic JSON: the event, versioned
	KindDingTalk Kind = "dingtalk" // DingTalk custom robot: markdown, optional "SEC…" signing secret
	KindFeishu   Kind = "feishu"   // Feishu / Lark custom bot: text, optional signing secret
	KindSlack    Kind = "slack"    // Slack incoming webhook: mrkdwn text, not signed
)

// kindLark is accepted in a config file for KindFeishu: Lark is Feishu's
// international edition, with the same bot API.
const kindLark = "lark"

// Kinds returns every kind, in a fixed order.
func Kinds() []Kind { return []Kind{KindWebhook, KindDingTalk, KindFeishu, KindSlack} }

const (
	maxNameLen      = 64
	minSecretLen    = 8
	dingTalkSecPref = "SEC"
	// Redacted stands wherever a URL or secret would be printed.
	Redacted = "[redacted]"
)

// Destination is one configured webhook. Its URL and secret are
// credentials (the URL of a chat webhook is enough to post to it): they
// are unexported, and String, GoString and MarshalJSON leave them out, so
// a destination can be logged or put in an error without leaking them.
type Destination struct {
	name   string
	kind   Kind
	events []EventKind // empty: every kind
	url    string
	secret string
	// Where the URL and secret came from, for String: "file" or "$NAME".
	urlFrom, secretFrom string
}

// NewDestination builds and validates a destination in code (tests,
// embedding); the worker reads its destinations with LoadConfig. No
// events means every event.
func NewDestination(name string, kind Kind, url, secret string, events ...EventKind) (Destination, error) {
	d := Destination{name: name, kind: kind, events: events, url: url, secret: secret, urlFrom: "code"}
	if secret != "" {
		d.secretFrom = "code"
	}
	return d, d.validate()
}

// Name is the destination's name, by which runs choose it.
func (d Destination) Name() string { return d.name }

// Kind is the destination's platform.
func (d Destination) Kind() Kind { return d.kind }

// Signed reports whether messages to it are signed.
func (d Destination) Signed() bool { return d.secret != "" }

// Events are the kinds it takes; empty means every kind.
func (d Destination) Events() []EventKind { return append([]EventKind(nil), d.events...) }

// Wants reports whether it takes events of kind k.
func (d Destination) Wants(k EventKind) bool {
	if len(d.events) == 0 {
		return true
	}
	for _, e := range d.events {
		if e == k {
			return true
		}
	}
	return false
}

// String describes the destination without its URL or secret, e.g.
// `oncall (dingtalk, url from $FLEETMEND_DINGTALK_URL, signed, events: approval-waiting,run-stopped)`.
func (d Destination) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s, url from %s", d.name, d.kind, d.urlFrom)
	if d.secret != "" {
		fmt.Fprintf(&b, ", signed with the secret from %s", d.secretFrom)
	}
	if len(d.events) == 0 {
		b.WriteString(", all events)")
	} else {
		names := make([]string, len(d.events))
		for i, e := range d.events {
			names[i] = string(e)
		}
		fmt.Fprintf(&b, ", events: %s)", strings.Join(names, ","))
	}
	return b.String()
}

// GoString is String, so that %#v does not print the unexported URL and
// secret either.
func (d Destination) GoString() string { return "notify.Destination{" + d.String() + "}" }

// MarshalJSON writes the destination without its URL or secret.
func (d Destination) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name    string      `json:"name"`
		Kind    Kind        `json:"kind"`
		URL     string      `json:"url"`
		URLFrom string      `json:"url_from"`
		Signed  bool        `json:"signed"`
		Events  []EventKind `json:"events,omitempty"`
	}{d.name, d.kind, Redacted, d.urlFrom, d.Signed(), d.events})
}

// validate checks a destination; errors name it and the field, never the
// URL's or the secret's value.
func (d Destination) validate() error {
	fail := func(field, format string, a ...any) error {
		return fmt.Errorf("destination %q: %s: %s", d.name, field, fmt.Sprintf(format, a...))
	}
	if !validName(d.name) {
		return fmt.Errorf("destination %q: name must be 1..%d characters: letters, digits, '-', '_' or '.'", d.name, maxNameLen)
	}
	switch d.kind {
	case KindWebhook, KindDingTalk, KindFeishu, KindSlack:
	default:
		return fail("kind", "%q must be one of webhook, dingtalk, feishu (or lark), slack", d.kind)
	}
	if !httpURL(d.url) {
		// Not even a part of it: a malformed webhook URL still carries its token.
		return fail("url", "the URL (from %s) must be an absolute http:// or https:// URL with a host", d.urlFrom)
	}
	if d.secret != "" {
		switch {
		case d.kind == KindSlack || d.kind == KindWebhook:
			return fail("secret", "%s destinations are not signed; remove the secret", d.kind)
		case len(d.secret) < minSecretLen:
			return fail("secret", "the secret (from %s) is shorter than %d characters: not a %s signing secret", d.secretFrom, minSecretLen, d.kind)
		case d.kind == KindDingTalk && !strings.HasPrefix(d.secret, dingTalkSecPref):
			return fail("secret", "a DingTalk signing secret starts with %q; the secret from %s does not", dingTalkSecPref, d.secretFrom)
		}
	}
	for i, e := range d.events {
		if !e.Valid() {
			return fail(fmt.Sprintf("events[%d]", i), "%q must be one of %s", e, kindList())
		}
	}
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Config is the worker's notification destinations.
type Config struct {
	Destinations []Destination
}

// fileDestination is one destination as written in the file.
type fileDestination struct {
	Name      string      `json:"name"`
	Kind      string      `json:"kind"`
	URL       string      `json:"url"`
	URLEnv    string      `json:"url_env"`
	Secret    string      `json:"secret"`
	SecretEnv string      `json:"secret_env"`
	Events    []EventKind `json:"events"`
}

type fileConfig struct {
	Destinations []fileDestination `json:"destinations"`
}

// LoadConfig reads the destinations file at path (see ParseConfig).
func LoadConfig(path string, lookupEnv func(string) (string, bool)) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("notifications config: %w", err)
	}
	c, err := ParseConfig(b, lookupEnv)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig reads a destinations document:
//
//	{"destinations": [
//	  {"name": "oncall", "kind": "dingtalk",
//	   "url_env": "FLEETMEND_DINGTALK_URL", "secret_env": "FLEETMEND_DINGTALK_SECRET",
//	   "events": ["approval-waiting", "run-stopped"]},
//	  {"name": "sre", "kind": "slack", "url": "https://hooks.slack.com/services/…"}
//	]}
//
// Each destination has a name (unique; letters, digits, '-', '_', '.'), a
// kind (webhook, dingtalk, feishu or lark, slack), exactly one of url and
// url_env (the name of an environment variable holding the URL, so the
// file can be shared while the credential stays in a secret store), at most
// one of secret and secret_env (dingtalk and feishu only; DingTalk's starts
// with "SEC"), and optionally the events it takes (default: all). Values
// read from the environment are trimmed of surrounding white space (a
// secret mounted from a file often ends in a newline). Unknown fields are
// refused, so a misspelt "secert" is not silently ignored.
//
// lookupEnv is os.LookupEnv in the worker; tests pass their own.
func ParseConfig(data []byte, lookupEnv func(string) (string, bool)) (Config, error) {
	var f fileConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		// encoding/json's messages name fields and types, never values.
		return Config{}, fmt.Errorf("notifications config: %w", err)
	}
	if dec.More() {
		return Config{}, errors.New("notifications config: more than one JSON document")
	}
	var c Config
	seen := map[string]int{}
	for i, fd := range f.Destinations {
		d, err := fd.resolve(lookupEnv)
		if err == nil {
			err = d.validate()
		}
		if err != nil {
			return Config{}, fmt.Errorf("notifications config: destinations[%d]: %w", i, err)
		}
		if j, dup := seen[d.name]; dup {
			return Config{}, fmt.Errorf("notifications config: destinations[%d]: destination %q is already defined by destinations[%d]", i, d.name, j)
		}
		seen[d.name] = i
		c.Destinations = append(c.Destinations, d)
	}
	return c, nil
}

// resolve fills the URL and secret in from the file or the environment.
func (fd fileDestination) resolve(lookupEnv func(string) (string, bool)) (Destination, error) {
	d := Destination{name: fd.Name, kind: Kind(fd.Kind), events: fd.Events}
	if d.kind == kindLark {
		d.kind = KindFeishu
	}
	var err error
	if d.url, d.urlFrom, err = pick(fd.Name, "url", fd.URL, fd.URLEnv, true, lookupEnv); err != nil {
		return d, err
	}
	d.secret, d.secretFrom, err = pick(fd.Name, "secret", fd.Secret, fd.SecretEnv, false, lookupEnv)
	return d, err
}

// pick takes a value from the file or from the environment variable the
// file names: exactly one of them (or none, when optional).
func pick(name, field, inline, env string, required bool, lookupEnv func(string) (string, bool)) (value, from string, err error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("destination %q: %s: %s", name, field, fmt.Sprintf(format, a...))
	}
	switch {
	case inline != "" && env != "":
		return "", "", fail("set one of %s and %s_env, not both", field, field)
	case inline != "":
		return inline, "file", nil
	case env == "" && required:
		return "", "", fail("set %s, or %s_env naming the environment variable that holds it", field, field)
	case env == "":
		return "", "", nil
	}
	v, ok := lookupEnv(env)
	v = strings.TrimSpace(v)
	switch {
	case !ok:
		return "", "", fail("environment variable %s (%s_env) is not set", env, field)
	case v == "":
		return "", "", fail("environment variable %s (%s_env) is empty", env, field)
	}
	return v, "$" + env, nil
}

// Names lists the destinations' names, in the file's order.
func (c Config) Names() []string {
	out := make([]string, len(c.Destinations))
	for i, d := range c.Destinations {
		out[i] = d.name
	}
	return out
}

// String lists the destinations without URLs or secrets.
func (c Config) String() string {
	if len(c.Destinations) == 0 {
		return "no notification destinations"
	}
	parts := make([]string, len(c.Destinations))
	for i, d := range c.Destinations {
		parts[i] = d.String()
	}
	return strings.Join(parts, "; ")
}

// Route returns the destinations an event of kind k goes to: those named
// (every one when names is empty) that take k, in the config's order. A
// name the config does not define is an error, listing the names it does.
func (c Config) Route(k EventKind, names []string) ([]Destination, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("notify: event kind %q must be one of %s", k, kindList())
	}
	chosen := map[string]bool{}
	for _, n := range names {
		found := false
		for _, d := range c.Destinations {
			found = found || d.name == n
		}
		if !found {
			have := strings.Join(c.Names(), ", ")
			if have == "" {
				have = "none"
			}
			return nil, fmt.Errorf("notify: no destination named %q; the worker's configuration has: %s", n, have)
		}
		chosen[n] = true
	}
	var out []Destination
	for _, d := range c.Destinations {
		if (len(names) == 0 || chosen[d.name]) && d.Wants(k) {
			out = append(out, d)
		}
	}
	return out, nil
}
