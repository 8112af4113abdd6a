package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ChatKind is the kind of conversation a message goes to, as the send
// call's path names it: POST {base}/messages/{kind}.
type ChatKind string

// The kinds of conversation.
const (
	ToUsers  ChatKind = "users"      // one-to-one chats
	ToGroups ChatKind = "chatgroups" // groups, by group id
	ToRooms  ChatKind = "chatrooms"  // chat rooms, by room id
)

// Message types that carry an attachment.
const (
	MsgImage = "img"
	MsgAudio = "audio"
	MsgVideo = "video"
	MsgFile  = "file"
)

// The service's limits on one send call.
const (
	MaxUsersPerMessage  = 600  // `to` of /messages/users
	MaxGroupsPerMessage = 3    // `to` of /messages/chatgroups
	MaxRoomsPerMessage  = 10   // `to` of /messages/chatrooms
	MaxMessageBody      = 5120 // bytes of body and ext together (5 KB)
	maxTargetLen        = 64   // bytes of a user name, group id or room id
	maxSendAnswer       = 1 << 20
	maxMessageIDLen     = 64
)

// Message is one message carrying an attachment.
type Message struct {
	From string   // the sender; the service refuses an empty one
	To   []string // user names, group ids or room ids, by the call's ChatKind
	Type string   // MsgImage, MsgAudio, MsgVideo or MsgFile
	Body MessageBody
}

// MessageBody is the body of an attachment message. Fields that do not
// apply to the message's type are left zero, and are then not sent.
type MessageBody struct {
	URL         string     `json:"url"`      // the upload's uri + "/" + uuid
	Filename    string     `json:"filename"` // shown to the recipients
	Secret      string     `json:"secret,omitempty"`
	FileLength  int64      `json:"file_length,omitempty"`
	Size        *ImageSize `json:"size,omitempty"`   // img
	Length      int        `json:"length,omitempty"` // audio, video: seconds
	Thumb       string     `json:"thumb,omitempty"`  // video: URL of its thumbnail image
	ThumbSecret string     `json:"thumb_secret,omitempty"`
}

// ImageSize is an image's size in pixels.
type ImageSize struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// SendResult is the service's answer to a send: each target's message id.
type SendResult struct {
	IDs       map[string]string // target -> message id
	Timestamp time.Time
}

// ErrInvalidMessage is returned (wrapped, with the reason) for a message
// the service would refuse: it is checked before it is sent, and the
// failure is permanent.
var ErrInvalidMessage = errors.New("remote: message refused before sending")

// ValidTarget reports whether s is a well-formed user name, group id or
// room id: 1 to 64 ASCII letters, digits, '_', '-' or '.', not "." or "..".
// (The services' rule for user names; group and room ids are digits.)
func ValidTarget(s string) bool {
	if s == "" || len(s) > maxTargetLen || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isNameByte(c) {
			return false
		}
	}
	return true
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
}

// wireMessage is a message as the service takes it.
type wireMessage struct {
	From       string          `json:"from"`
	To         []string        `json:"to"`
	Type       string          `json:"type"`
	Body       MessageBody     `json:"body"`
	Ext        json.RawMessage `json:"ext"`
	SyncDevice bool            `json:"sync_device"`
}

var emptyExt = json.RawMessage("{}")

// check refuses, with the limit it breaks, a message the service would
// refuse with 400, and returns its JSON.
func (m Message) check(kind ChatKind) ([]byte, error) {
	bad := func(format string, a ...any) ([]byte, error) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidMessage, fmt.Sprintf(format, a...))
	}
	limit := map[ChatKind]int{ToUsers: MaxUsersPerMessage, ToGroups: MaxGroupsPerMessage, ToRooms: MaxRoomsPerMessage}[kind]
	switch {
	case limit == 0:
		return bad("unknown kind of conversation %q", kind)
	case m.From == "":
		return bad("the sender (from) is empty; the service refuses a message with no sender")
	case !ValidTarget(m.From):
		return bad("the sender %q is not a well-formed user name (letters, digits, _ - ., at most 64)", m.From)
	case len(m.To) == 0:
		return bad("no recipient")
	case len(m.To) > limit:
		return bad("%d recipients; the service takes at most %d %s in one message", len(m.To), limit, kind)
	}
	switch m.Type {
	case MsgImage, MsgAudio, MsgVideo, MsgFile:
	default:
		return bad("message type %q is not one of img, audio, video, file", m.Type)
	}
	seen := map[string]bool{}
	for _, t := range m.To {
		if !ValidTarget(t) {
			return bad("recipient %q is not a well-formed name or id (letters, digits, _ - ., at most 64)", t)
		}
		if seen[t] {
			return bad("recipient %q named twice", t)
		}
		seen[t] = true
	}
	if m.Body.URL == "" || m.Body.Filename == "" {
		return bad("an attachment message needs a url and a file name")
	}
	body, err := json.Marshal(m.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidMessage, err)
	}
	if n := len(body) + len(emptyExt); n > MaxMessageBody {
		return bad("the message body is %d bytes; the service takes at most %d (5 KB) of body and ext", n, MaxMessageBody)
	}
	return json.Marshal(wireMessage{From: m.From, To: m.To, Type: m.Type, Body: m.Body, Ext: emptyExt})
}

// SendMessage sends msg to its targets, which are of kind, and returns each
// target's message id. The message is checked first: one the service would
// refuse (no sender, too many recipients, a body over 5 KB) fails at once
// with ErrInvalidMessage. Calls are paced by the send limits (see
// sendLimits), apart from uploads and downloads. 403 message_send_error
// (the service's own rate limit), 429 reach_limit, 5xx and network errors
// are retried within the client's RetryPolicy; 400 (message_send_error,
// invalid_request_body) is returned at once, with the service's reason.
//
// A retry after an answer was lost (the connection cut after the request
// went out, a 5xx from a server that had accepted it) may deliver the
// message twice: the service has no way to deduplicate.
func (c *Client) SendMessage(ctx context.Context, kind ChatKind, msg Message) (SendResult, error) {
	payload, err := msg.check(kind)
	if err != nil {
		return SendResult{}, err
	}
	url := c.base + "/messages/" + string(kind)
	op := "send to " + string(kind)
	lim := c.send.forKind(kind)
	resp, err := c.do(ctx, call{op: op, limiter: lim.calls, msgs: lim.msgs, n: len(msg.To),
		send: func(ctx context.Context, token string) (*http.Response, error) {
			ctx, cancel := context.WithCancelCause(ctx)
			defer cancel(nil)
			timer := newIdleTimer(c.idle, cancel)
			defer timer.stop()
			hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
			if err != nil {
				return nil, err
			}
			hr.Header.Set("Content-Type", "application/json")
			hr.Header.Set(hdrAuthorization, "Bearer "+token)
			hr.Header.Set("Accept", "application/json")
			hr.Header.Set("User-Agent", c.userAgent)
			resp, err := c.hc.Do(hr)
			if err != nil {
				return nil, timer.explain(ctx, err)
			}
			answer := &idleBody{rc: resp.Body, ctx: ctx, cancel: cancel, timer: timer, left: -1}
			data, err := io.ReadAll(io.LimitReader(answer, maxSendAnswer+1))
			answer.Close()
			if err != nil {
				return nil, timer.explain(ctx, err)
			}
			resp.Body = io.NopCloser(bytes.NewReader(data))
			return resp, nil
		}})
	if err != nil {
		return SendResult{}, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	res, err := parseSendAnswer(data, msg.To)
	if err != nil {
		return SendResult{}, fmt.Errorf("remote: %s: %w", op, err)
	}
	c.log.Debug("remote: message sent", "kind", kind, "type", msg.Type, "to", len(msg.To))
	return res, nil
}

// parseSendAnswer reads a 200 answer: `data` must give every target a
// message id.
func parseSendAnswer(data []byte, to []string) (SendResult, error) {
	if len(data) > maxSendAnswer {
		return SendResult{}, fmt.Errorf("%w: answer larger than %d bytes", ErrMalformedAnswer, maxSendAnswer)
	}
	var a struct {
		Data      map[string]json.RawMessage `json:"data"`
		Timestamp int64                      `json:"timestamp"`
	}
	if err := json.Unmarshal(data, &a); err != nil {
		return SendResult{}, fmt.Errorf("%w: %v (%q)", ErrMalformedAnswer, err, excerpt(data))
	}
	res := SendResult{IDs: make(map[string]string, len(to)), Timestamp: time.Now()}
	if a.Timestamp > 0 {
		res.Timestamp = time.UnixMilli(a.Timestamp)
	}
	for _, t := range to {
		raw, ok := a.Data[t]
		if !ok {
			return SendResult{}, fmt.Errorf("%w: no message id for %q", ErrMalformedAnswer, t)
		}
		var id string
		if err := json.Unmarshal(raw, &id); err != nil || !validMessageID(id) {
			return SendResult{}, fmt.Errorf("%w: bad message id for %q: %q", ErrMalformedAnswer, t, excerpt(raw))
		}
		res.IDs[t] = id
	}
	return res, nil
}

// validMessageID: the service's ids are long decimal numbers; letters, '-'
// and '_' are tolerated, nothing that could not go into a file name or an
// xattr as it is.
func validMessageID(id string) bool {
	if id == "" || len(id) > maxMessageIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isNameByte(c) || c == '.' {
			return false
		}
	}
	return true
}
