package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The send endpoints, POST {base}/messages/users|chatgroups|chatrooms:
//
//	request  {"from":"admin","to":["bob"],"type":"img","body":{…},"ext":{},"sync_device":false}
//	answer   {"action":"post","path":"/messages/users","uri":…,"data":{"bob":"<msg id>"},…}
//
// Checks, in order: the calls-per-second limit (429 reach_limit), a JSON
// object with a known type, a body object and a non-empty to (else 400
// invalid_request_body), from not empty (400 message_send_error), at most
// 600 users, 3 groups or 10 rooms in to, body and ext together at most 5 KB
// (400 message_send_error 14007), the messages limit (403
// message_send_error "message send reach limit"). An accepted message is
// stored as one history record per target.

// maxSendRequest bounds the request body read; anything longer is too
// large a message anyway.
const maxSendRequest = 64 << 10

// maxMessageBytes is the limit on body and ext together (5 KB).
const maxMessageBytes = 5 * 1024

// msgTypes are the message types the send endpoints take.
var msgTypes = map[string]bool{
	"txt": true, "img": true, "audio": true, "video": true, "file": true,
	"loc": true, "cmd": true, "custom": true, "combine": true,
}

// targetKinds describes the three send endpoints.
var targetKinds = map[string]struct {
	chatType string
	maxTo    int
}{
	"users":      {"chat", 600},
	"chatgroups": {"groupchat", 3},
	"chatrooms":  {"chatroom", 10},
}

// Answers of the send endpoints.
var (
	errBadBody = apiError{http.StatusBadRequest, "invalid_request_body",
		"InvalidRequestBodyException", "Request body is invalid. Please check the body is correct."}
	errFromEmpty = apiError{http.StatusBadRequest, "message_send_error",
		"MessageSendException", "param from can't be empty"}
	errMsgTooLarge = apiError{http.StatusBadRequest, "message_send_error",
		"MessageSendException", "message is too large"}
	errSendLimit = apiError{http.StatusForbidden, "message_send_error",
		"MessageSendException", "message send reach limit"}
	errReachLimit = apiError{http.StatusTooManyRequests, "reach_limit",
		"ReachLimitException", "This request has reached API limit."}
)

// errMsgTooLargeCode is the error_code of errMsgTooLarge.
const errMsgTooLargeCode = 14007

func errToLimit(n int) apiError {
	return apiError{http.StatusBadRequest, "message_send_error",
		"MessageSendException", fmt.Sprintf("params to's size can't exceed limit %d", n)}
}

// messageRoute is a parsed message-layer path: a send endpoint (kind set)
// or a history export hour (hour set).
type messageRoute struct {
	route
	kind string // users, chatgroups or chatrooms
	hour string // the chatmessages path segment, unescaped
}

// parseMessageRoute recognizes {base}/messages/{kind} and
// {base}/chatmessages/{hour}.
func parseMessageRoute(escaped string) (messageRoute, bool) {
	segs := strings.Split(strings.TrimPrefix(escaped, "/"), "/")
	if len(segs) != 4 {
		return messageRoute{}, false
	}
	var mr messageRoute
	switch segs[2] {
	case "messages":
		if _, ok := targetKinds[segs[3]]; !ok {
			return messageRoute{}, false
		}
		mr.kind = segs[3]
	case "chatmessages":
		h, err := url.PathUnescape(segs[3])
		if err != nil {
			h = segs[3]
		}
		mr.hour = h
	default:
		return messageRoute{}, false
	}
	rt, ok := parseBase(segs)
	if !ok {
		return messageRoute{}, false
	}
	mr.route = rt
	return mr, true
}

// routeMessages dispatches a message-layer request after the app and
// token checks every route has.
func (s *Server) routeMessages(w http.ResponseWriter, r *http.Request, mr messageRoute) {
	resource := "chatmessages"
	if mr.kind != "" {
		resource = "messages/" + mr.kind
	}
	if !s.appExists(mr.app) {
		s.writeError(w, errNoAppAt(mr.app, resource))
		return
	}
	if !s.auth(w, r, mr.app) {
		return
	}
	switch {
	case mr.kind != "" && r.Method == http.MethodPost:
		s.send(w, r, mr)
	case mr.kind == "" && r.Method == http.MethodGet:
		s.history(w, r, mr)
	case mr.kind != "":
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(w, errMethod(r.Method))
	default:
		w.Header().Set("Allow", http.MethodGet)
		s.writeError(w, errMethod(r.Method))
	}
}

// sendRequest is the body of a send.
type sendRequest struct {
	From       *string         `json:"from"`
	To         []string        `json:"to"`
	Type       string          `json:"type"`
	Body       json.RawMessage `json:"body"`
	Ext        json.RawMessage `json:"ext"`
	SyncDevice *bool           `json:"sync_device"`
}

// send handles POST {base}/messages/{kind}.
func (s *Server) send(w http.ResponseWriter, r *http.Request, mr messageRoute) {
	kind := targetKinds[mr.kind]
	now := s.now()
	calls, messages, per := s.sendLimit(mr.kind)
	if !s.limits.allow(mr.app, "send-calls/"+mr.kind, calls, time.Second, now, 1) {
		s.writeError(w, errReachLimit)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxSendRequest+1))
	if err != nil {
		s.writeError(w, errBadBody)
		return
	}
	if len(raw) > maxSendRequest {
		s.writeErrorCode(w, errMsgTooLarge, errMsgTooLargeCode)
		return
	}
	var req sendRequest
	if json.Unmarshal(raw, &req) != nil || !msgTypes[req.Type] || !isObject(req.Body) ||
		(len(req.Ext) > 0 && !isObject(req.Ext) && string(req.Ext) != "null") {
		s.writeError(w, errBadBody)
		return
	}
	from := "admin"
	if req.From != nil {
		from = *req.From
	}
	if from == "" {
		s.writeError(w, errFromEmpty)
		return
	}
	targets, ok := uniqueTargets(req.To)
	if !ok {
		s.writeError(w, errBadBody)
		return
	}
	if len(targets) > kind.maxTo {
		s.writeError(w, errToLimit(kind.maxTo))
		return
	}
	body, ext, err := compactMessage(req.Body, req.Ext)
	if err != nil {
		s.writeError(w, errBadBody)
		return
	}
	if len(body)+len(ext) > maxMessageBytes {
		s.writeErrorCode(w, errMsgTooLarge, errMsgTooLargeCode)
		return
	}
	if !s.limits.allow(mr.app, "send-messages/"+mr.kind, messages, per, now, len(targets)) {
		s.writeError(w, errSendLimit)
		return
	}
	ids, err := s.store(mr.app, Message{
		From: from, To: targets, ChatType: kind.chatType, Type: req.Type,
		Body: body, Ext: ext, Time: now,
	})
	if err != nil {
		s.log.Error("chatfiles: storing message", "app", mr.app, "err", err)
		s.writeError(w, errInternal)
		return
	}
	a := s.answer(r, mr.route, "post", "/messages/"+mr.kind)
	a["data"] = ids
	s.writeJSON(w, http.StatusOK, a)
}

// sendLimit returns the limits of a send endpoint: calls per second, and
// messages (recipients) per span: users per minute, groups and rooms per
// second, as many as calls.
func (s *Server) sendLimit(kind string) (calls, messages int, per time.Duration) {
	l := s.sendLimits
	switch kind {
	case "users":
		return l.UserCalls, l.UserMessages, time.Minute
	case "chatgroups":
		return l.GroupCalls, l.GroupCalls, time.Second
	default:
		return l.RoomCalls, l.RoomCalls, time.Second
	}
}

// uniqueTargets returns to without repeats, in order; false when it is
// empty or holds an empty name.
func uniqueTargets(to []string) ([]string, bool) {
	if len(to) == 0 {
		return nil, false
	}
	seen := make(map[string]bool, len(to))
	out := make([]string, 0, len(to))
	for _, t := range to {
		if t == "" {
			return nil, false
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, true
}

// isObject reports whether raw is a JSON object.
func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == '{'
}

// compactMessage returns body and ext without insignificant space, ext
// being {} when absent or null: what the 5 KB limit is measured on.
func compactMessage(body, ext json.RawMessage) (json.RawMessage, json.RawMessage, error) {
	var b, e bytes.Buffer
	if err := json.Compact(&b, body); err != nil {
		return nil, nil, err
	}
	if len(ext) == 0 || string(ext) == "null" {
		return b.Bytes(), json.RawMessage("{}"), nil
	}
	if err := json.Compact(&e, ext); err != nil {
		return nil, nil, err
	}
	return b.Bytes(), e.Bytes(), nil
}

// answer starts a JSON answer of the service for path under rt's base.
func (s *Server) answer(r *http.Request, rt route, action, path string) map[string]any {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	a := map[string]any{
		"action":      action,
		"application": appUUID(rt.app),
		"path":        path,
		"uri":         scheme + "://" + r.Host + rt.base + path,
		"timestamp":   s.now().UnixMilli(),
		"duration":    0,
	}
	if rt.org != "" {
		a["organization"] = rt.org
		a["applicationName"] = rt.appName
	}
	return a
}

// Message is a message to store as the service stores an accepted send:
// one history record per target. It is the argument of PostMessage.
type Message struct {
	From     string          // the sender; "admin" when empty
	To       []string        // users, group ids or room ids (at least one)
	ChatType string          // "chat" (default), "groupchat" or "chatroom"
	Type     string          // txt, img, audio, video, file…: added to the body as "type"; "" leaves the body as is
	Body     json.RawMessage // a JSON object
	Ext      json.RawMessage // a JSON object; {} when empty
	Time     time.Time       // when it was sent; the Server's clock when zero
	MsgID    string          // its id, for every target; a new id per target when empty
}

// PostMessage stores m as an accepted send would, with m.Time as its
// timestamp (which may be any past or future time), bypassing the send
// endpoints' validation and limits, and returns the message id per
// target. app is an app key, "app-id/ID" or "org/app". Tests use it to put
// messages in past hours; records are durable when it returns. It is safe
// for concurrent use.
func (s *Server) PostMessage(app string, m Message) (map[string]string, error) {
	ids, err := s.PostMessages(app, []Message{m})
	if err != nil {
		return nil, err
	}
	return ids[0], nil
}

// PostMessages stores many messages as PostMessage does, with one sync per
// hour file instead of one per message (for benchmarks that need 100,000
// messages). It checks every message before storing any; ids[i] are the
// ids of ms[i] by target.
func (s *Server) PostMessages(app string, ms []Message) ([]map[string]string, error) {
	key, ok := normalizeAppKey(app)
	if !ok {
		return nil, fmt.Errorf("emulator: app %q: want \"app-id/ID\" or \"org/app\"", app)
	}
	var recs []Record
	counts := make([]int, len(ms))
	for i, m := range ms {
		m, err := s.checkMessage(m)
		if err != nil {
			return nil, fmt.Errorf("emulator: message %d: %w", i, err)
		}
		r, err := toRecords(m)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r...)
		counts[i] = len(r)
	}
	if err := s.msgs.add(key, recs); err != nil {
		return nil, err
	}
	s.messages.Add(int64(len(recs)))
	ids := make([]map[string]string, len(ms))
	j := 0
	for i, n := range counts {
		ids[i] = make(map[string]string, n)
		for _, r := range recs[j : j+n] {
			ids[i][r.To] = r.MsgID
		}
		j += n
	}
	return ids, nil
}

// checkMessage checks a message given to PostMessages and fills its
// defaults.
func (s *Server) checkMessage(m Message) (Message, error) {
	if m.From == "" {
		m.From = "admin"
	}
	if m.ChatType == "" {
		m.ChatType = "chat"
	}
	switch m.ChatType {
	case "chat", "groupchat", "chatroom":
	default:
		return m, fmt.Errorf("chat type %q: want chat, groupchat or chatroom", m.ChatType)
	}
	targets, ok := uniqueTargets(m.To)
	if !ok {
		return m, errors.New("a message needs at least one target, none empty")
	}
	m.To = targets
	if !isObject(m.Body) {
		return m, errors.New("a message body must be a JSON object")
	}
	if len(m.Ext) > 0 && !isObject(m.Ext) {
		return m, errors.New("a message ext must be a JSON object")
	}
	var err error
	if m.Body, m.Ext, err = compactMessage(m.Body, m.Ext); err != nil {
		return m, err
	}
	if m.Time.IsZero() {
		m.Time = s.now()
	}
	return m, nil
}

// store writes one record per target of m (already checked) and returns
// the ids by target.
func (s *Server) store(app string, m Message) (map[string]string, error) {
	recs, err := toRecords(m)
	if err != nil {
		return nil, err
	}
	if err := s.msgs.add(app, recs); err != nil {
		return nil, err
	}
	s.messages.Add(int64(len(recs)))
	ids := make(map[string]string, len(recs))
	for _, rec := range recs {
		ids[rec.To] = rec.MsgID
	}
	return ids, nil
}

// toRecords makes the records of a checked message, one per target; ids
// are given when stored.
func toRecords(m Message) ([]Record, error) {
	body := m.Body
	if m.Type != "" {
		var err error
		if body, err = withType(m.Body, m.Type); err != nil {
			return nil, err
		}
	}
	recs := make([]Record, len(m.To))
	for i, to := range m.To {
		recs[i] = Record{
			MsgID:     m.MsgID,
			Timestamp: m.Time.UnixMilli(),
			Direction: "outgoing",
			From:      m.From,
			To:        to,
			ChatType:  m.ChatType,
			Payload: Payload{
				Bodies: []json.RawMessage{body},
				Ext:    m.Ext,
				From:   m.From,
				To:     to,
			},
		}
	}
	return recs, nil
}

// withType returns the body object with "type" set to typ, every other
// member kept as sent.
func withType(body json.RawMessage, typ string) (json.RawMessage, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return nil, fmt.Errorf("emulator: message body: %w", err)
	}
	t, _ := json.Marshal(typ)
	members["type"] = t
	return json.Marshal(members)
}

// Messages returns every message record of app ("app-id/ID" or
// "org/app"), oldest hour first: what the history exports hold, whether
// available yet or not. Tests use it to check what was sent.
func (s *Server) Messages(app string) ([]Record, error) {
	key, ok := normalizeAppKey(app)
	if !ok {
		return nil, fmt.Errorf("emulator: app %q: want \"app-id/ID\" or \"org/app\"", app)
	}
	return s.msgs.records(key)
}
