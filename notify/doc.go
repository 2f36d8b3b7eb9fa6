// Package notify tells people what fleetmend's runs need from them or did:
// a run waiting for approval, a run stopped by a safety control, a run
// that completed with failures, a stuck region holder, a freeze set or
// lifted. It posts to the chat webhooks teams already watch: DingTalk
// custom robots, Feishu/Lark bots, Slack incoming webhooks, or a generic
// JSON webhook for anything else.
//
// It is split from the engine along the line the credentials draw:
//
//   - An Event is built in workflow code and recorded in the history, so it
//     carries what happened and nothing secret (no URL, no token).
//   - A Destination (Config, read by the worker from its configuration
//     file and environment) carries the webhook URL and signing secret.
//     They never enter a workflow's input, result or history; String,
//     GoString, MarshalJSON and every error leave them out.
//   - A Sender, used by an activity, renders the event for each
//     destination's platform, signs it, posts it, and returns a Result per
//     destination, which again holds no URL or secret.
//
// # Delivery
//
// One attempt per destination, all destinations at once, each bounded by
// Sender.AttemptTimeout and the whole by Sender.Total; Send never blocks
// longer than Sender.Bound and never panics. A delivery counts only when
// the platform says so: an HTTP 2xx and, for DingTalk and Feishu, a zero
// errcode/code in the answer (both answer 200 to a refused message).
// Retries are the caller's: a Temporal activity's retry policy spaces them
// and records them in the history, and a notification must never fail or
// delay a run, so the caller decides how hard to try. Metrics are the
// caller's too: Result has the destination, kind, outcome, HTTP status,
// platform code, a fixed Cause fit for a label, and the time taken.
//
// # Formats
//
// Each platform gets a few lines, in its own markup, escaped for it: the
// region and what happened (title), the reason in one line, the run,
// counts, up to ChatFailures failures, who and until when (freezes), the
// commands to act, and the links.
//
//   - DingTalk: {"msgtype":"markdown","markdown":{"title","text"}}, markdown
//     specials backslash-escaped, IDs and commands as code spans.
//   - Feishu/Lark: {"msg_type":"text","content":{"text"}}, plain text.
//   - Slack: {"text"} in mrkdwn, &, < and > escaped as entities.
//   - Generic webhook: WebhookDoc, {"version":1,"source":"fleetmend",
//     "title","text","event"}: the event itself, for machines.
//
// # Signing
//
// The clock is injected (Sender.Now), so signatures are reproducible in
// tests. DingTalk: timestamp in milliseconds; sign = base64(HMAC-SHA256,
// key secret, message timestamp+"\n"+secret), URL-encoded, appended to the
// URL as &timestamp=…&sign=…. Feishu: timestamp in seconds; sign =
// base64(HMAC-SHA256, key timestamp+"\n"+secret, empty message), sent in the
// JSON body as "timestamp" (a string) and "sign". Both platforms refuse a
// timestamp more than an hour off their clock. Slack and generic webhooks
// are not signed (a secret for them is refused rather than ignored).
//
// The notifytest package is a receiver that checks all of this as the
// platforms do.
package notify
