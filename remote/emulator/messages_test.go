package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// send posts a JSON body (a string is sent as is) to base/messages/kind.
func (e *env) send(base, kind string, body any) answer {
	e.t.Helper()
	raw, ok := body.(string)
	if !ok {
		b, err := json.Marshal(body)
		require.NoError(e.t, err)
		raw = string(b)
	}
	return e.do(http.MethodPost, base+"/messages/"+kind, strings.NewReader(raw), map[string]string{"Content-Type": "application/json"})
}

// sendAnswer is the JSON answer to a send.
type sendAnswer struct {
	Action          string            `json:"action"`
	Path            string            `json:"path"`
	URI             string            `json:"uri"`
	Data            map[string]string `json:"data"`
	Timestamp       int64             `json:"timestamp"`
	Duration        *int              `json:"duration"`
	Organization    string            `json:"organization"`
	ApplicationName string            `json:"applicationName"`
}

func (e *env) requireSendError(a answer, status int, code, exception, description string) {
	e.t.Helper()
	e.requireError(a, status, code, exception, description)
}

func imgBody(uuid string) map[string]any {
	return map[string]any{
		"url": "http://h/org/app/chatfiles/" + uuid, "filename": "a.png", "secret": "s3",
		"size": map[string]int{"width": 10, "height": 20}, "file_length": 123,
	}
}

func TestSendStoresOneRecordPerTarget(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.send("/org/app", "users", map[string]any{
		"from": "alice", "to": []string{"bob", "carol", "bob"}, "type": "img",
		"body": imgBody("u1"), "ext": map[string]string{"k": "v"}, "sync_device": true,
	})
	require.Equal(t, 200, a.status, string(a.body))
	var sa sendAnswer
	require.NoError(t, json.Unmarshal(a.body, &sa))
	assert.Equal(t, "post", sa.Action)
	assert.Equal(t, "/messages/users", sa.Path)
	assert.Equal(t, e.url+"/org/app/messages/users", sa.URI)
	assert.Equal(t, e.ms.Load(), sa.Timestamp)
	require.NotNil(t, sa.Duration)
	assert.Equal(t, "org", sa.Organization)
	assert.Equal(t, "app", sa.ApplicationName)
	require.Len(t, sa.Data, 2, "one id per distinct target")
	assert.NotEqual(t, sa.Data["bob"], sa.Data["carol"])
	for _, id := range sa.Data {
		assert.Regexp(t, `^[0-9]{18,20}$`, id)
	}

	recs, err := e.srv.Messages("org/app")
	require.NoError(t, err)
	require.Len(t, recs, 2)
	for _, r := range recs {
		assert.Equal(t, sa.Data[r.To], r.MsgID)
		assert.Equal(t, e.ms.Load(), r.Timestamp)
		assert.Equal(t, "outgoing", r.Direction)
		assert.Equal(t, "alice", r.From)
		assert.Equal(t, "chat", r.ChatType)
		assert.Equal(t, "alice", r.Payload.From)
		assert.Equal(t, r.To, r.Payload.To)
		require.Len(t, r.Payload.Bodies, 1)
		assert.JSONEq(t, `{"type":"img","url":"http://h/org/app/chatfiles/u1","filename":"a.png","secret":"s3",
			"size":{"width":10,"height":20},"file_length":123}`, string(r.Payload.Bodies[0]))
		assert.JSONEq(t, `{"k":"v"}`, string(r.Payload.Ext))
	}
	assert.Equal(t, int64(2), e.srv.Stats().Messages)

	// Groups and rooms: their chat types; app-id apps have no org fields.
	for kind, ct := range map[string]string{"chatgroups": "groupchat", "chatrooms": "chatroom"} {
		a := e.send("/app-id/X", kind, map[string]any{"to": []string{"g1"}, "type": "file",
			"body": map[string]any{"url": "u", "filename": "f.pdf"}})
		require.Equal(t, 200, a.status, string(a.body))
		var sa sendAnswer
		require.NoError(t, json.Unmarshal(a.body, &sa))
		assert.Equal(t, "/messages/"+kind, sa.Path)
		assert.Empty(t, sa.Organization)
		recs, err := e.srv.Messages("app-id/X")
		require.NoError(t, err)
		last := recs[len(recs)-1]
		assert.Equal(t, ct, last.ChatType)
		assert.Equal(t, "admin", last.From, "from defaults to admin")
		assert.Equal(t, "g1", last.Payload.To)
		assert.JSONEq(t, `{}`, string(last.Payload.Ext), "ext defaults to {}")
	}
}

func TestSendValidation(t *testing.T) {
	e := newEnv(t, Options{SendLimits: SendLimits{UserMessages: -1}})
	const (
		bad = "Request body is invalid. Please check the body is correct."
		mse = "MessageSendException"
	)
	txt := map[string]any{"msg": "hi"}
	for name, body := range map[string]any{
		"not JSON":       `{"to":["bob"],`,
		"not an object":  `["bob"]`,
		"no to":          map[string]any{"type": "txt", "body": txt},
		"empty to":       map[string]any{"to": []string{}, "type": "txt", "body": txt},
		"to a string":    map[string]any{"to": "bob", "type": "txt", "body": txt},
		"an empty name":  map[string]any{"to": []string{"bob", ""}, "type": "txt", "body": txt},
		"no type":        map[string]any{"to": []string{"bob"}, "body": txt},
		"unknown type":   map[string]any{"to": []string{"bob"}, "type": "exe", "body": txt},
		"no body":        map[string]any{"to": []string{"bob"}, "type": "txt"},
		"body a string":  map[string]any{"to": []string{"bob"}, "type": "txt", "body": "hi"},
		"ext an array":   map[string]any{"to": []string{"bob"}, "type": "txt", "body": txt, "ext": []int{1}},
		"from a number":  map[string]any{"from": 1, "to": []string{"bob"}, "type": "txt", "body": txt},
		"sync a string":  map[string]any{"to": []string{"bob"}, "type": "txt", "body": txt, "sync_device": "yes"},
		"empty request":  "",
		"trailing bytes": `{"to":["bob"],"type":"txt","body":{"msg":"x"}} x`,
	} {
		t.Run(name, func(t *testing.T) {
			e.t = t
			e.requireSendError(e.send("/org/app", "users", body), 400, "invalid_request_body", "InvalidRequestBodyException", bad)
		})
	}
	e.t = t
	e.requireSendError(e.send("/org/app", "users", map[string]any{"from": "", "to": []string{"bob"}, "type": "txt", "body": txt}),
		400, "message_send_error", mse, "param from can't be empty")

	names := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("u%d", i)
		}
		return out
	}
	for kind, limit := range map[string]int{"users": 600, "chatgroups": 3, "chatrooms": 10} {
		e.requireSendError(e.send("/org/app", kind, map[string]any{"to": names(limit + 1), "type": "txt", "body": txt}),
			400, "message_send_error", mse, fmt.Sprintf("params to's size can't exceed limit %d", limit))
		a := e.send("/org/app", kind, map[string]any{"to": names(limit), "type": "txt", "body": txt})
		require.Equal(t, 200, a.status, "%s: %s", kind, a.body)
	}
	assert.Equal(t, int64(613), e.srv.Stats().Messages, "refused sends store nothing")
}

// TestSendSizeLimit: body and ext together may hold 5 KB, measured without
// insignificant space; one byte more is 400 with error_code 14007.
func TestSendSizeLimit(t *testing.T) {
	e := newEnv(t, Options{})
	// {"msg":"xxx…"} is 10 bytes plus the text; ext {"k":"yyy…"} 8 plus.
	body := func(text, ext int) string {
		return fmt.Sprintf(`{"to": ["bob"], "type": "txt", "body": {"msg": %q},   "ext": {"k": %q}}`,
			strings.Repeat("x", text), strings.Repeat("y", ext))
	}
	a := e.send("/org/app", "users", body(5120-10-8-100, 100))
	require.Equal(t, 200, a.status, string(a.body))

	tooLarge := func(a answer) {
		t.Helper()
		require.Equal(t, 400, a.status, string(a.body))
		want := fmt.Sprintf(`{"error":"message_send_error","exception":"MessageSendException","timestamp":%d,"duration":0,
			"error_code":14007,"error_description":"message is too large"}`, e.ms.Load())
		require.JSONEq(t, want, string(a.body))
	}
	tooLarge(e.send("/org/app", "users", body(5120-10-8-100+1, 100)))
	tooLarge(e.send("/org/app", "users", body(200<<10, 0)))
	assert.Equal(t, int64(1), e.srv.Stats().Messages)
}

func TestSendLimits(t *testing.T) {
	e := newEnv(t, Options{SendLimits: SendLimits{UserCalls: 3, UserMessages: 5, GroupCalls: 3, RoomCalls: -1}})
	msg := func(to ...string) map[string]any {
		return map[string]any{"to": to, "type": "txt", "body": map[string]string{"msg": "hi"}}
	}
	reach := func(a answer) {
		t.Helper()
		e.requireSendError(a, 429, "reach_limit", "ReachLimitException", "This request has reached API limit.")
	}
	sendReach := func(a answer) {
		t.Helper()
		e.requireSendError(a, 403, "message_send_error", "MessageSendException", "message send reach limit")
	}

	// Users: 3 calls a second (429), 5 messages a minute, each recipient
	// counting (403).
	require.Equal(t, 200, e.send("/org/app", "users", msg("a", "b", "c")).status)
	require.Equal(t, 200, e.send("/org/app", "users", msg("a", "b")).status)
	sendReach(e.send("/org/app", "users", msg("a")))
	reach(e.send("/org/app", "users", msg("a")))
	e.advance(time.Second)
	sendReach(e.send("/org/app", "users", msg("a")))
	e.advance(time.Minute)
	require.Equal(t, 200, e.send("/org/app", "users", msg("a", "b", "c", "d", "e")).status)
	// Another app has its own limits.
	require.Equal(t, 200, e.send("/org/other", "users", msg("a", "b", "c", "d", "e")).status)

	// Groups: 3 calls and 3 groups a second; the fourth group in a second
	// is 403 even on the second call.
	require.Equal(t, 200, e.send("/org/app", "chatgroups", msg("g1", "g2", "g3")).status)
	sendReach(e.send("/org/app", "chatgroups", msg("g1")))
	e.advance(time.Second)
	require.Equal(t, 200, e.send("/org/app", "chatgroups", msg("g1")).status)
	require.Equal(t, 200, e.send("/org/app", "chatgroups", msg("g1")).status)
	require.Equal(t, 200, e.send("/org/app", "chatgroups", msg("g1")).status)
	reach(e.send("/org/app", "chatgroups", msg("g1")))

	// Rooms: unlimited here.
	for range 50 {
		require.Equal(t, 200, e.send("/org/app", "chatrooms", msg("r1")).status)
	}
}

// TestSendDefaultLimits: the service's limits are the defaults: the 101st
// call to users in one second is 429.
func TestSendDefaultLimits(t *testing.T) {
	e := newEnv(t, Options{})
	msg := map[string]any{"to": []string{"bob"}, "type": "txt", "body": map[string]string{"msg": "hi"}}
	for i := range 100 {
		require.Equal(t, 200, e.send("/org/app", "users", msg).status, "call %d", i)
	}
	assert.Equal(t, 429, e.send("/org/app", "users", msg).status)
	for i := range 20 {
		require.Equal(t, 200, e.send("/org/app", "chatgroups", msg).status, "call %d", i)
	}
	assert.Equal(t, 429, e.send("/org/app", "chatgroups", msg).status)
}

func TestSendRoutesAuthAndMethods(t *testing.T) {
	e := newEnv(t, Options{Apps: []string{"org/app"}})
	msg := `{"to":["bob"],"type":"txt","body":{"msg":"hi"}}`
	a := e.do(http.MethodPost, "/org/app/messages/users", strings.NewReader(msg), map[string]string{"Authorization": "<none>"})
	e.requireError(a, 401, "auth_bad_access_token", "EasemobSecurityException", "Unable to authenticate due to corrupt access token")
	a = e.do(http.MethodGet, "/org/app/messages/users", nil, nil)
	e.requireError(a, 405, "method_not_allowed", "HttpRequestMethodNotSupportedException", "Request method 'GET' not supported")
	assert.Equal(t, "POST", a.header.Get("Allow"))
	e.requireError(e.send("/org/nope", "users", msg), 404, "organization_application_not_found",
		"OrganizationApplicationNotFoundException", "Could not find application for org/nope from URI: org/nope/messages/users")
	for _, p := range []string{"/org/app/messages/friends", "/org/app/messages/users/x", "/org/app/messages"} {
		e.requireError(e.do(http.MethodPost, p, strings.NewReader(msg), nil), 404, "service_resource_not_found",
			"ServiceResourceNotFoundException", "Service resource not found")
	}
	assert.Zero(t, e.srv.Stats().Messages)
}

// TestMessagesSurviveRestart: records are on disk; a new Server on the same
// directory has them, and a torn last line (a crash mid-append) loses
// neither the records before it nor the next send.
func TestMessagesSurviveRestart(t *testing.T) {
	e := newEnv(t, Options{})
	a := e.send("/org/app", "users", map[string]any{"to": []string{"bob"}, "type": "txt", "body": map[string]string{"msg": "one"}})
	require.Equal(t, 200, a.status)

	hourFile := filepath.Join(e.dir, "messages", appDirName("org/app"), t0.Format(hourLayout)+".jsonl")
	fi, err := os.Stat(hourFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	f, err := os.OpenFile(hourFile, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"msg_id":"torn","times`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	e2 := newEnv(t, Options{Dir: e.dir})
	e2.ms.Store(e.ms.Load())
	recs, err := e2.srv.Messages("org/app")
	require.NoError(t, err)
	require.Len(t, recs, 1)
	a = e2.send("/org/app", "users", map[string]any{"to": []string{"bob"}, "type": "txt", "body": map[string]string{"msg": "two"}})
	require.Equal(t, 200, a.status)
	recs, err = e2.srv.Messages("org/app")
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.JSONEq(t, `{"type":"txt","msg":"two"}`, string(recs[1].Payload.Bodies[0]))
	assert.NotEqual(t, recs[0].MsgID, recs[1].MsgID)
}

func TestPostMessage(t *testing.T) {
	e := newEnv(t, Options{})
	past := t0.Add(-5 * time.Hour)
	ids, err := e.srv.PostMessage("/app-id/X/", Message{
		From: "alice", To: []string{"bob", "carol"}, Type: "file", Time: past,
		Body: json.RawMessage(`{"url": "u", "filename": "f"}`),
	})
	require.NoError(t, err)
	require.Len(t, ids, 2)
	// A body without type (a combined message) is stored as given.
	_, err = e.srv.PostMessage("app-id/X", Message{To: []string{"g"}, ChatType: "groupchat", Time: past,
		Body: json.RawMessage(`{"combineLevel":1,"url":"u2"}`)})
	require.NoError(t, err)
	recs, err := e.srv.Messages("app-id/X")
	require.NoError(t, err)
	require.Len(t, recs, 3)
	assert.Equal(t, past.UnixMilli(), recs[0].Timestamp)
	assert.JSONEq(t, `{"type":"file","url":"u","filename":"f"}`, string(recs[0].Payload.Bodies[0]))
	assert.JSONEq(t, `{"combineLevel":1,"url":"u2"}`, string(recs[2].Payload.Bodies[0]))
	assert.Equal(t, "admin", recs[2].From)
	assert.Equal(t, "groupchat", recs[2].ChatType)

	for name, m := range map[string]Message{
		"no target":    {Body: json.RawMessage(`{}`)},
		"empty target": {To: []string{""}, Body: json.RawMessage(`{}`)},
		"no body":      {To: []string{"b"}},
		"bad body":     {To: []string{"b"}, Body: json.RawMessage(`{"a":`)},
		"bad type":     {To: []string{"b"}, ChatType: "dm", Body: json.RawMessage(`{}`)},
		"ext array":    {To: []string{"b"}, Body: json.RawMessage(`{}`), Ext: json.RawMessage(`[]`)},
	} {
		_, err := e.srv.PostMessage("app-id/X", m)
		assert.Error(t, err, name)
	}
	_, err = e.srv.PostMessage("no-slash", Message{To: []string{"b"}, Body: json.RawMessage(`{}`)})
	assert.Error(t, err)
}

// TestPostMessagesBulk: many messages in one call, over several hours,
// each with its own id; a bad one stores none.
func TestPostMessagesBulk(t *testing.T) {
	e := newEnv(t, Options{HistoryRate: -1})
	start := t0.Add(-6 * time.Hour)
	ms := make([]Message, 5000)
	for i := range ms {
		ms[i] = Message{From: "a", To: []string{"b"}, Type: "file", Time: start.Add(time.Duration(i) * 2 * time.Second),
			Body: json.RawMessage(fmt.Sprintf(`{"url":"http://h/o/a/chatfiles/%d","filename":"f%d"}`, i, i))}
	}
	ids, err := e.srv.PostMessages("o/a", ms)
	require.NoError(t, err)
	require.Len(t, ids, len(ms))
	seen := map[string]bool{}
	for _, m := range ids {
		seen[m["b"]] = true
	}
	assert.Len(t, seen, len(ms))
	recs, err := e.srv.Messages("o/a")
	require.NoError(t, err)
	require.Len(t, recs, len(ms))
	assert.Equal(t, ids[4999]["b"], recs[4999].MsgID, "in order")
	got := exportRecords(t, fetch(t, e.exportURL("/o/a", start.Add(time.Hour).Format(hourLayout)), nil).body)
	assert.Len(t, got, 1800, "one hour of a message every 2 s")

	bad := append([]Message{}, ms[:2]...)
	bad = append(bad, Message{To: []string{"b"}})
	_, err = e.srv.PostMessages("o/a", bad)
	require.ErrorContains(t, err, "message 2")
	recs, err = e.srv.Messages("o/a")
	require.NoError(t, err)
	assert.Len(t, recs, len(ms), "nothing of a refused batch is stored")
}
