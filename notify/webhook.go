package notify

import "encoding/json"

// WebhookVersion is the generic webhook document's version. It changes
// only when a field is removed or changes meaning; fields may be added.
const WebhookVersion = 1

// WebhookDoc is the generic webhook's JSON document: the event as it is,
// plus the title and text a chat would show, for receivers that only
// forward text.
type WebhookDoc struct {
	Version int    `json:"version"`
	Source  string `json:"source"` // "fleetmend"
	Title   string `json:"title"`
	Text    string `json:"text"`
	Event   Event  `json:"event"`
}

func webhookBody(m message, e Event) ([]byte, error) {
	return json.Marshal(WebhookDoc{Version: WebhookVersion, Source: "fleetmend", Title: m.title, Text: plainText(m), Event: e})
}
