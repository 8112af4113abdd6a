package remote_test

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
)

const testHour = "2026112807"

// historyServer speaks the history export's wire format: the hour's answer
// lists presigned links to /store/<name>, which serves files[name] to a
// request without Authorization only.
type historyServer struct {
	t       *testing.T
	mu      sync.Mutex
	answer  func(hour string, call int) (int, string) // nil: links to every file
	files   map[string][]byte                         // name -> gzip bytes
	refuse  map[string]int                            // name -> answer 403 this many times
	calls   atomic.Int32                              // history calls
	fetches atomic.Int32
	authed  atomic.Int32 // link fetches that carried Authorization
	base    string
}

func newHistoryServer(t *testing.T) *historyServer {
	h := &historyServer{t: t, files: map[string][]byte{}, refuse: map[string]int{}}
	srv := newServer(t, h)
	h.base = srv.URL
	return h
}

func (h *historyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if name, ok := strings.CutPrefix(r.URL.Path, "/store/"); ok {
		h.fetches.Add(1)
		if r.Header.Get("Authorization") != "" {
			h.authed.Add(1)
		}
		h.mu.Lock()
		data, ok := h.files[name]
		refuse := h.refuse[name] > 0
		if refuse {
			h.refuse[name]--
		}
		h.mu.Unlock()
		switch {
		case refuse:
			http.Error(w, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>", http.StatusForbidden)
		case !ok:
			http.NotFound(w, r)
		default:
			w.Write(data)
		}
		return
	}
	hour, ok := strings.CutPrefix(r.URL.Path, "/app-id/"+testAppID+"/chatmessages/")
	if !ok || r.Header.Get("Authorization") != "Bearer "+testToken {
		http.Error(w, "unexpected", http.StatusTeapot)
		return
	}
	n := int(h.calls.Add(1))
	if h.answer != nil {
		code, body := h.answer(hour, n)
		if code != http.StatusOK {
			w.WriteHeader(code)
			io.WriteString(w, body)
			return
		}
		io.WriteString(w, body)
		return
	}
	io.WriteString(w, h.links())
}

// links is the 200 answer listing every file, in name order.
func (h *historyServer) links() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	type link struct {
		URL string `json:"url"`
	}
	var data []link
	for _, name := range []string{"a", "b", "c"} {
		if _, ok := h.files[name]; ok {
			data = append(data, link{h.base + "/store/" + name + "?Expires=1764300000&Signature=c2lnbmF0dXJl"})
		}
	}
	b, _ := json.Marshal(map[string]any{"action": "get", "uri": h.base, "data": data, "timestamp": 1, "duration": 0})
	return string(b)
}

func (h *historyServer) set(name string, data []byte) {
	h.mu.Lock()
	h.files[name] = data
	h.mu.Unlock()
}

func gz(t testing.TB, s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, err := io.WriteString(zw, s)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return b.Bytes()
}

const (
	uuidA = "11111111-1111-4111-8111-111111111111"
	uuidB = "22222222-2222-4222-8222-222222222222"
	uuidC = "33333333-3333-4333-8333-333333333333"
	uuidT = "44444444-4444-4444-8444-444444444444"
)

// record renders one export line.
func record(msgID string, ms int64, chatType, from, to string, bodies ...string) string {
	return fmt.Sprintf(`{"msg_id":%q,"timestamp":%d,"direction":"outgoing","from":"ignored","to":"ignored","chat_type":%q,`+
		`"payload":{"bodies":[%s],"ext":{},"from":%q,"to":%q}}`, msgID, ms, chatType, strings.Join(bodies, ","), from, to)
}

func TestHistoryParsesTheDocumentedVariations(t *testing.T) {
	h := newHistoryServer(t)
	lines := []string{
		record("1001", 1764313200000, "chat", "alice", "bob",
			`{"type":"img","url":"`+h.base+`/app-id/`+testAppID+`/chatfiles/`+uuidA+`","filename":"cat.jpg","secret":"s3cret","size":{"width":10,"height":20},"file_length":1234}`),
		record("1002", 1764313201000, "groupchat", "bob", "1234567890",
			`{"type":"txt","msg":"hello"}`,
			`{"type":"file","url":"https://other.example.com/org/app/chatfiles/`+uuidB+`?share-secret=q-secret","filename":"report.pdf","file_length":"99","unknown":{"x":1}}`),
		record("1003", 1764313202000, "chatroom", "carol", "room_1",
			`{"url":"https://a1.easemob.com/org/app/chatfiles/`+uuidC+`/","filename":"combined.bin"}`,
			`{"type":"audio","url":"https://h/x/`+uuidA+`","filename":"dup","Length":3}`),
		record("1004", 1764313203000, "chat", "dave", "erin",
			`{"type":"video","url":"https://h/chatfiles/`+uuidB+`","filename":"v.mp4","length":5,"file_length":500,"thumb":"https://h/chatfiles/`+uuidT+`","thumb_secret":"ts"}`),
		record("1005", 1764313204000, "chat", "x", "y", `{"type":"loc","lat":1}`),
		`{"msg_id":"1006","timestamp":1764313205000,"chat_type":"chat","from":"top","to":"level","payload":{"bodies":[{"type":"audio","url":"https://h/chatfiles/` + uuidC + `","Length":3}]}}`,
		``,
	}
	h.set("a", gz(t, strings.Join(lines, "\n")))
	// The second file is a top-level JSON array.
	h.set("b", gz(t, "[\n"+record("2001", 1764313206000, "chat", "alice", "bob",
		`{"type":"file","url":"https://h/chatfiles/`+uuidC+`","filename":"array.txt"}`)+"\n]"))
	c := newClient(t, h.base)
	got, err := c.FetchHistory(context.Background(), testHour, 0)
	require.NoError(t, err)
	assert.Equal(t, 7, got.Records)
	assert.Equal(t, 0, got.Skipped)
	require.Len(t, got.Attachments, 7)
	a := got.Attachments
	assert.Equal(t, remote.Attachment{MsgID: "1001", Sent: time.UnixMilli(1764313200000).UTC(), From: "alice", To: "bob",
		ChatType: "chat", Type: "img", UUID: uuidA, URL: h.base + "/app-id/" + testAppID + "/chatfiles/" + uuidA,
		Host: strings.TrimPrefix(h.base, "http://"), Secret: "s3cret", Name: "cat.jpg", Size: 1234}, a[0])
	assert.Equal(t, []any{"groupchat", "1234567890", uuidB, "q-secret", "report.pdf", int64(99), "other.example.com", "https://other.example.com/org/app/chatfiles/" + uuidB},
		[]any{a[1].ChatType, a[1].To, a[1].UUID, a[1].Secret, a[1].Name, a[1].Size, a[1].Host, a[1].URL}, "the share-secret comes from the query, which the URL loses")
	assert.Equal(t, []any{"chatroom", "room_1", uuidC, "file", int64(-1)}, []any{a[2].ChatType, a[2].To, a[2].UUID, a[2].Type, a[2].Size},
		"a body without type is a combined message's: its file is taken")
	assert.Equal(t, []any{"audio", uuidA, "dup"}, []any{a[3].Type, a[3].UUID, a[3].Name}, "any URL shape: the last path segment")
	assert.Equal(t, []any{"video", uuidT, "ts", int64(500)}, []any{a[4].Type, a[4].ThumbUUID, a[4].ThumbSecret, a[4].Size})
	assert.Equal(t, []any{"top", "level", uuidC}, []any{a[5].From, a[5].To, a[5].Name}, "no payload from/to: the record's; no filename: the uuid")
	assert.Equal(t, []any{"2001", "array.txt"}, []any{a[6].MsgID, a[6].Name})
	assert.Zero(t, h.authed.Load(), "presigned links are fetched without the token")
	assert.EqualValues(t, 1, h.calls.Load())
}

func TestHistorySkipsUnusableRecords(t *testing.T) {
	h := newHistoryServer(t)
	file := func(body string) string {
		return `{"type":"file","url":"https://h/chatfiles/` + body + `","filename":"f"}`
	}
	lines := []string{
		record("", 1764313200000, "chat", "a", "b", file(uuidA)),                        // no msg_id
		record("1", 0, "chat", "a", "b", file(uuidA)),                                   // no time
		record("2", 1764313200000, "chat", "../etc", "b", file(uuidA)),                  // bad user
		record("3", 1764313200000, "telepathy", "a", "b", file(uuidA)),                  // bad chat type
		record("4", 1764313200000, "chat", "a", "b", file("../../etc/passwd")),          // no uuid
		record("5", 1764313200000, "chat", "a", "b", file("NOT-A-UUID")),                // no uuid
		record("6", 1764313200000, "chat", "a", "b", file(uuidA+"?share-secret=a%0Ab")), // a secret with a newline
		record("7", 1764313200000, "chat", "a", "b", `{"type":"img","url":"file:///etc/`+uuidA+`"}`),
		`{"msg_id":["x"],"payload":3}`, // JSON, not a record
		record("8", 1764313200000, "chat", "a", "b", file(uuidB)),
	}
	h.set("a", gz(t, strings.Join(lines, "\n")))
	got, err := newClient(t, h.base).FetchHistory(context.Background(), testHour, 0)
	require.NoError(t, err)
	require.Len(t, got.Attachments, 1)
	assert.Equal(t, uuidB, got.Attachments[0].UUID)
	assert.Equal(t, 9, got.Skipped)
}

func TestHistoryHostileFiles(t *testing.T) {
	good := record("1", 1764313200000, "chat", "a", "b", `{"type":"file","url":"https://h/chatfiles/`+uuidA+`"}`) + "\n"
	bomb := func() []byte { // 4 MiB of zeros in about 4 KiB, read with 1 MiB allowed
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		zeros := make([]byte, 1<<20)
		for range 4 {
			zw.Write(zeros)
		}
		zw.Close()
		return b.Bytes()
	}()
	full := gz(t, good+good)
	for _, tc := range []struct {
		name string
		data []byte
		want string
		is   error
		max  int64
	}{
		{"gzip bomb", bomb, "too large", remote.ErrHistoryTooLarge, 1 << 20},
		{"huge line", gz(t, good+strings.Repeat("x", remote.MaxHistoryLine+10)+"\n"), "longer than", remote.ErrHistoryTooLarge, 0},
		{"truncated gzip", full[:len(full)-12], "cut short", io.ErrUnexpectedEOF, 0},
		{"not gzip", []byte(good), "not gzip", nil, 0},
		{"a line that is not JSON", gz(t, good+"{\"msg_id\":\n"), "not JSON", remote.ErrMalformedAnswer, 0},
		{"an array cut short", gz(t, "["+strings.TrimSpace(good)+","), "cut short", io.ErrUnexpectedEOF, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHistoryServer(t)
			h.set("a", gz(t, good))
			h.set("b", tc.data)
			got, err := newClient(t, h.base).FetchHistory(context.Background(), testHour, cmp.Or(tc.max, 8<<20))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			assert.Empty(t, got.Attachments, "nothing of a failed hour is returned")
			assert.NotContains(t, err.Error(), "Signature", "the presigned link is not quoted")
		})
	}
}

func TestHistoryAnswers(t *testing.T) {
	errBody := func(code, desc string) string {
		return `{"error":"` + code + `","exception":"x","timestamp":1,"duration":0,"error_description":"` + desc + `"}`
	}
	for _, tc := range []struct {
		name  string
		code  int
		body  string
		check func(error) bool
	}{
		{"no messages", 404, errBody("storage_object_not_found", "storage object not found"), remote.IsNoHistory},
		{"not made yet or too old", 400, errBody("illegal_argument", "illegal arguments: appkey: org#app, time: 2026112807, maybe chat message history is expired or unstored"), remote.IsHistoryNotStored},
		{"bad format", 400, errBody("illegal_argument", "illegal arguments: appkey: org#app, time: 20261"), func(err error) bool {
			return remote.IsInvalid(err) && !remote.IsHistoryNotStored(err) && !remote.IsRetryable(err)
		}},
		{"not a list", 200, `{"data":{"url":3}}`, func(err error) bool { return errors.Is(err, remote.ErrMalformedAnswer) }},
		{"a link that is not http", 200, `{"data":[{"url":"file:///etc/passwd"}]}`, func(err error) bool { return errors.Is(err, remote.ErrMalformedAnswer) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHistoryServer(t)
			h.answer = func(string, int) (int, string) { return tc.code, tc.body }
			_, err := newClient(t, h.base).FetchHistory(context.Background(), testHour, 0)
			require.Error(t, err)
			assert.True(t, tc.check(err), "%v", err)
		})
	}
	t.Run("429 is retried", func(t *testing.T) {
		h := newHistoryServer(t)
		h.answer = func(_ string, n int) (int, string) {
			if n == 1 {
				return 429, errBody("reach_limit", "This request has reached API limit.")
			}
			return 200, `{"data":[]}`
		}
		got, err := newClient(t, h.base).FetchHistory(context.Background(), testHour, 0)
		require.NoError(t, err)
		assert.Empty(t, got.Attachments)
		assert.EqualValues(t, 2, h.calls.Load())
	})
	t.Run("a bad hour is refused before any request", func(t *testing.T) {
		h := newHistoryServer(t)
		for _, hour := range []string{"", "2026112824", "202611280", "../../x/2026", "2026112807?a"} {
			_, err := newClient(t, h.base).History(context.Background(), hour)
			assert.Error(t, err, hour)
		}
		assert.Zero(t, h.calls.Load())
	})
}

func TestHistoryExpiredLinkIsAskedForAgain(t *testing.T) {
	h := newHistoryServer(t)
	h.set("a", gz(t, record("1", 1764313200000, "chat", "a", "b", `{"type":"file","url":"https://h/chatfiles/`+uuidA+`"}`)))
	h.set("b", gz(t, record("2", 1764313200000, "chat", "a", "b", `{"type":"file","url":"https://h/chatfiles/`+uuidB+`"}`)))
	h.refuse["b"] = 1 // expired between the two calls
	got, err := newClient(t, h.base).FetchHistory(context.Background(), testHour, 0)
	require.NoError(t, err)
	require.Len(t, got.Attachments, 2, "each attachment once, though file a was read twice")
	assert.EqualValues(t, 2, h.calls.Load(), "the links were asked for again")

	h.refuse["b"] = 2 // still refused with fresh links: an error, nothing returned
	got, err = newClient(t, h.base).FetchHistory(context.Background(), testHour, 0)
	require.Error(t, err)
	assert.True(t, remote.IsForbidden(err), "%v", err)
	assert.Empty(t, got.Attachments)
	assert.NotContains(t, err.Error(), "Signature")
}

// The history limiter holds history calls to 10 a minute, one at a time,
// and downloads never wait on it.
func TestHistoryHasItsOwnLimiter(t *testing.T) {
	h := newHistoryServer(t)
	h.answer = func(string, int) (int, string) { return 200, `{"data":[]}` }
	c := newClient(t, h.base, func(o *remote.Options) { o.HistoryPerMinute = 10; o.RateLimit = 0 })
	_, err := c.History(context.Background(), testHour)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = c.History(ctx, testHour)
	require.Error(t, err, "a second call within 6s waits past the deadline")
	assert.EqualValues(t, 1, h.calls.Load())
	// Downloads go on meanwhile (the store answers 404 for the probe uuid).
	dctx, dcancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer dcancel()
	for range 20 {
		_, err := c.Download(dctx, remote.DownloadRequest{UUID: uuidA})
		var e *remote.Error
		require.ErrorAs(t, err, &e, "answered, not held by the history limiter")
		assert.Equal(t, http.StatusTeapot, e.Status)
	}
}
