package emulator

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// historyAnswer is the JSON answer of GET chatmessages.
type historyAnswer struct {
	Action string `json:"action"`
	URI    string `json:"uri"`
	Data   []struct {
		URL string `json:"url"`
	} `json:"data"`
	Timestamp int64 `json:"timestamp"`
}

func (e *env) history(base, hour string) answer {
	e.t.Helper()
	return e.do(http.MethodGet, base+"/chatmessages/"+hour, nil, nil)
}

// exportURL asks for an hour and returns its presigned URL.
func (e *env) exportURL(base, hour string) string {
	e.t.Helper()
	a := e.history(base, hour)
	require.Equal(e.t, 200, a.status, string(a.body))
	var ha historyAnswer
	require.NoError(e.t, json.Unmarshal(a.body, &ha))
	assert.Equal(e.t, "get", ha.Action)
	assert.Equal(e.t, e.url+base+"/chatmessages/"+hour, ha.URI)
	require.Len(e.t, ha.Data, 1)
	return ha.Data[0].URL
}

// fetch GETs a presigned URL with no Authorization header (hdr may add
// headers) and reads the answer.
func fetch(t *testing.T, u string, hdr map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, resp.Header, b}
}

// exportRecords gunzips an export and parses its lines.
func exportRecords(t *testing.T, gz []byte) []map[string]any {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	require.NoError(t, err)
	raw, err := io.ReadAll(zr)
	require.NoError(t, err)
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		out = append(out, m)
	}
	require.True(t, bytes.HasSuffix(raw, []byte("\n")))
	return out
}

func (e *env) requireUnstored(a answer, key, hour string) {
	e.t.Helper()
	e.requireError(a, 400, "illegal_argument", "java.lang.IllegalArgumentException",
		"illegal arguments: appkey: "+key+", time: "+hour+", maybe chat message history is expired or unstored")
}

func (e *env) requireNoHistory(a answer, key, hour string) {
	e.t.Helper()
	e.requireError(a, 404, "storage_object_not_found", "StorageObjectNotFoundException",
		"Failed to find chat message history download url for appkey: "+key+", time: "+hour)
}

func post(t *testing.T, s *Server, app string, at time.Time, from, to, msg string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"msg": msg})
	ids, err := s.PostMessage(app, Message{From: from, To: []string{to}, Type: "txt", Body: b, Time: at})
	require.NoError(t, err)
	return ids[to]
}

// TestHistoryHours: an hour is available from its end plus the delay until
// its end plus the retention; 200 with messages, 404 without, 400 before
// and after.
func TestHistoryHours(t *testing.T) {
	e := newEnv(t, Options{HistoryRate: -1})
	h := func(d time.Duration) string { return t0.Add(d).Format(hourLayout) }
	id := post(t, e.srv, "org/app", t0.Add(-3*time.Hour+5*time.Minute), "alice", "bob", "old")
	post(t, e.srv, "org/app", t0.Add(-30*time.Minute), "alice", "bob", "recent")
	post(t, e.srv, "org/app", t0.Add(10*time.Minute), "alice", "bob", "now")

	u := e.exportURL("/org/app", h(-3*time.Hour))
	assert.True(t, strings.HasPrefix(u, e.url+"/_history/"), u)
	a := fetch(t, u, nil)
	require.Equal(t, 200, a.status, string(a.body))
	recs := exportRecords(t, a.body)
	require.Len(t, recs, 1)
	assert.Equal(t, id, recs[0]["msg_id"])
	assert.Equal(t, "outgoing", recs[0]["direction"])
	assert.Equal(t, "chat", recs[0]["chat_type"])
	assert.Equal(t, float64(t0.Add(-3*time.Hour+5*time.Minute).UnixMilli()), recs[0]["timestamp"])
	payload := recs[0]["payload"].(map[string]any)
	assert.Equal(t, "alice", payload["from"])
	assert.Equal(t, "bob", payload["to"])
	assert.Equal(t, []any{map[string]any{"type": "txt", "msg": "old"}}, payload["bodies"])
	assert.Equal(t, int64(1), e.srv.Stats().Exports)

	// Over at t0-1h, available from t0, empty.
	e.requireNoHistory(e.history("/org/app", h(-2*time.Hour)), "org#app", h(-2*time.Hour))
	// Over at t0, available from t0+1h.
	e.requireUnstored(e.history("/org/app", h(-time.Hour)), "org#app", h(-time.Hour))
	e.requireUnstored(e.history("/org/app", h(0)), "org#app", h(0))
	e.requireUnstored(e.history("/org/app", h(5*time.Hour)), "org#app", h(5*time.Hour))
	e.advance(time.Hour - time.Millisecond)
	e.requireUnstored(e.history("/org/app", h(-time.Hour)), "org#app", h(-time.Hour))
	e.advance(time.Millisecond)
	e.exportURL("/org/app", h(-time.Hour))

	// Retention: 72h after the hour's end, gone (the same answer as unmade).
	e.ms.Store(t0.Add(-2*time.Hour + 72*time.Hour - time.Millisecond).UnixMilli())
	e.exportURL("/org/app", h(-3*time.Hour))
	e.advance(time.Millisecond)
	e.requireUnstored(e.history("/org/app", h(-3*time.Hour)), "org#app", h(-3*time.Hour))
	// The app-id shape names the app by its id.
	e.requireNoHistory(e.history("/app-id/X", h(5*time.Hour)), "X", h(5*time.Hour))
}

func TestHistoryBadTime(t *testing.T) {
	e := newEnv(t, Options{HistoryRate: -1})
	for _, hour := range []string{"2024", "20240401", "202404011", "20240401123", "2024130112", "2024023012",
		"2024040124", "abcdefghij", "2024-04-01", "+024040112", "２０２４040112"} {
		e.requireError(e.history("/org/app", url.PathEscape(hour)), 400, "illegal_argument",
			"java.lang.IllegalArgumentException", "illegal arguments: appkey: org#app, time: "+hour)
	}
	long := strings.Repeat("9", 200)
	a := e.history("/org/app", long)
	assert.Equal(t, 400, a.status)
	assert.Less(t, len(a.body), 400, "the echoed time is bounded")
	a = e.do(http.MethodPost, "/org/app/chatmessages/2024040112", nil, nil)
	assert.Equal(t, 405, a.status)
	assert.Equal(t, "GET", a.header.Get("Allow"))
	a = e.do(http.MethodGet, "/org/app/chatmessages/2024040112", nil, map[string]string{"Authorization": "<none>"})
	assert.Equal(t, 401, a.status)
}

// TestHistoryDelayAndLive: a shorter delay; HistoryLive serves the hour in
// progress as it stands, and a later message shows in the next download.
func TestHistoryDelayAndLive(t *testing.T) {
	e := newEnv(t, Options{HistoryDelay: 10 * time.Minute, HistoryRate: -1})
	hour := t0.Add(-time.Hour).Format(hourLayout)
	e.requireUnstored(e.history("/org/app", hour), "org#app", hour)
	e.advance(10 * time.Minute)
	e.requireNoHistory(e.history("/org/app", hour), "org#app", hour)

	live := newEnv(t, Options{HistoryLive: true, HistoryRate: -1})
	now := t0.Format(hourLayout)
	live.requireNoHistory(live.history("/org/app", now), "org#app", now)
	post(t, live.srv, "org/app", t0, "a", "b", "first")
	u := live.exportURL("/org/app", now)
	require.Len(t, exportRecords(t, fetch(t, u, nil).body), 1)
	post(t, live.srv, "org/app", t0.Add(time.Minute), "a", "b", "second")
	require.Len(t, exportRecords(t, fetch(t, u, nil).body), 2, "the cached export follows the hour")
	next := t0.Add(time.Hour).Format(hourLayout)
	live.requireUnstored(live.history("/org/app", next), "org#app", next)
}

// TestHistoryTZ: with UTC+8 (China clusters) hours are named in UTC+8.
func TestHistoryTZ(t *testing.T) {
	tz, err := ParseHistoryTZ("UTC+8")
	require.NoError(t, err)
	e := newEnv(t, Options{HistoryTZ: tz, HistoryRate: -1})
	at := time.Date(2024, 4, 1, 3, 30, 0, 0, time.UTC) // 11:30 in UTC+8
	post(t, e.srv, "org/app", at, "a", "b", "tz")
	recs := exportRecords(t, fetch(t, e.exportURL("/org/app", "2024040111"), nil).body)
	require.Len(t, recs, 1)
	e.requireNoHistory(e.history("/org/app", "2024040103"), "org#app", "2024040103")

	utc := newEnv(t, Options{HistoryRate: -1})
	utc.advance(2 * time.Hour) // 11:00 UTC is available from 13:00
	post(t, utc.srv, "org/app", at, "a", "b", "tz")
	require.Len(t, exportRecords(t, fetch(t, utc.exportURL("/org/app", "2024040103"), nil).body), 1)
	utc.requireNoHistory(utc.history("/org/app", "2024040111"), "org#app", "2024040111")

	for _, bad := range []string{"UTC+9", "CST", "Asia/Shanghai"} {
		_, err := ParseHistoryTZ(bad)
		assert.Error(t, err, bad)
	}
}

// TestHistoryRate: 10 calls a minute per app by default, whatever their
// answer; the 11th is 429; a minute later calls are admitted again.
func TestHistoryRate(t *testing.T) {
	e := newEnv(t, Options{})
	hour := t0.Add(-3 * time.Hour).Format(hourLayout)
	for i := range 10 {
		a := e.history("/org/app", hour)
		require.Equal(t, 404, a.status, "call %d", i)
		e.advance(time.Second)
	}
	e.requireError(e.history("/org/app", hour), 429, "reach_limit", "ReachLimitException", "This request has reached API limit.")
	e.requireError(e.history("/org/app", "bad"), 429, "reach_limit", "ReachLimitException", "This request has reached API limit.")
	assert.Equal(t, 404, e.history("/org/other", hour).status, "another app has its own limit")
	e.advance(50 * time.Second) // the first call leaves the window
	assert.Equal(t, 404, e.history("/org/app", hour).status)
	assert.Equal(t, 429, e.history("/org/app", hour).status)

	two := newEnv(t, Options{HistoryRate: 2})
	assert.Equal(t, 404, two.history("/org/app", hour).status)
	assert.Equal(t, 404, two.history("/org/app", hour).status)
	assert.Equal(t, 429, two.history("/org/app", hour).status)
}

// TestPresignedURL: the export URL needs no token and refuses a changed or
// expired signature, a token beside it, and URLs of other hours or apps.
func TestPresignedURL(t *testing.T) {
	e := newEnv(t, Options{HistoryRate: -1, HistoryURLTTL: 5 * time.Minute})
	at := t0.Add(-3 * time.Hour)
	post(t, e.srv, "org/app", at, "a", "b", "x")
	post(t, e.srv, "org/app", at.Add(-time.Hour), "a", "b", "y")
	post(t, e.srv, "org/app2", at, "a", "b", "z")
	u := e.exportURL("/org/app", at.Format(hourLayout))
	pu, err := url.Parse(u)
	require.NoError(t, err)
	q := pu.Query()
	assert.Equal(t, "chatfs-emulator", q.Get("OSSAccessKeyId"))
	assert.Equal(t, "1711973100", q.Get("Expires"), "t0 + 5 min, in seconds")

	ok := fetch(t, u, nil)
	require.Equal(t, 200, ok.status)
	assert.Equal(t, "application/octet-stream", ok.header.Get("Content-Type"))
	assert.Empty(t, ok.header.Get("Content-Encoding"), "the object is a .gz file, not an encoded answer")

	xmlErr := func(a answer, status int, code string) {
		t.Helper()
		require.Equal(t, status, a.status, string(a.body))
		assert.Equal(t, "application/xml", a.header.Get("Content-Type"))
		assert.Contains(t, string(a.body), "<Code>"+code+"</Code>")
		assert.NotContains(t, string(a.body), "msg")
	}
	with := func(change func(q url.Values)) string {
		q := pu.Query()
		change(q)
		c := *pu
		c.RawQuery = q.Encode()
		return c.String()
	}
	xmlErr(fetch(t, u, map[string]string{"Authorization": "Bearer " + testToken}), 400, "InvalidArgument")
	xmlErr(fetch(t, with(func(q url.Values) { q.Set("Signature", "AAAA"+q.Get("Signature")[4:]) }), nil), 403, "SignatureDoesNotMatch")
	xmlErr(fetch(t, with(func(q url.Values) { q.Set("Expires", "9999999999") }), nil), 403, "SignatureDoesNotMatch")
	xmlErr(fetch(t, with(func(q url.Values) { q.Del("Signature") }), nil), 403, "AccessDenied")
	xmlErr(fetch(t, with(func(q url.Values) { q.Del("Expires") }), nil), 403, "AccessDenied")
	xmlErr(fetch(t, with(func(q url.Values) { q.Del("OSSAccessKeyId") }), nil), 403, "AccessDenied")
	other := strings.Replace(u, at.Format(hourLayout), at.Add(-time.Hour).Format(hourLayout), 1)
	xmlErr(fetch(t, other, nil), 403, "SignatureDoesNotMatch")
	xmlErr(fetch(t, strings.Replace(u, "org%252Fapp", "org%252Fapp2", 1), nil), 403, "SignatureDoesNotMatch")
	req, err := http.NewRequest(http.MethodPut, u, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 405, resp.StatusCode)

	// Expired: exactly at Expires still valid, a second later not.
	e.advance(5 * time.Minute)
	require.Equal(t, 200, fetch(t, u, nil).status)
	e.advance(time.Second)
	xmlErr(fetch(t, u, nil), 403, "AccessDenied")
	assert.Contains(t, string(fetch(t, u, nil).body), "Request has expired.")

	// A URL signed by another Server (a restart) is refused.
	e2 := newEnv(t, Options{Dir: e.dir})
	e2.ms.Store(t0.UnixMilli())
	xmlErr(fetch(t, strings.Replace(u, e.url, e2.url, 1), nil), 403, "SignatureDoesNotMatch")

	// Past retention between the two calls: the object is gone.
	e3 := newEnv(t, Options{Dir: e.dir, HistoryRate: -1, HistoryURLTTL: 24 * time.Hour})
	e3.ms.Store(t0.Add(70*time.Hour - time.Minute).UnixMilli()) // the hour ended at t0-2h
	u3 := e3.exportURL("/org/app", at.Format(hourLayout))
	require.Equal(t, 200, fetch(t, u3, nil).status)
	e3.advance(time.Minute)
	xmlErr(fetch(t, u3, nil), 404, "NoSuchKey")
}

// TestExportRange: the export is an object like any other: Range works,
// and HEAD gives its length.
func TestExportRange(t *testing.T) {
	e := newEnv(t, Options{HistoryRate: -1})
	at := t0.Add(-3 * time.Hour)
	for i := range 50 {
		post(t, e.srv, "app-id/X", at.Add(time.Duration(i)*time.Second), "a", "b", strings.Repeat("m", i))
	}
	u := e.exportURL("/app-id/X", at.Format(hourLayout))
	whole := fetch(t, u, nil)
	require.Equal(t, 200, whole.status)
	require.Len(t, exportRecords(t, whole.body), 50)
	part := fetch(t, u, map[string]string{"Range": "bytes=10-19"})
	require.Equal(t, 206, part.status)
	assert.Equal(t, whole.body[10:20], part.body)
}

func TestValidAppDir(t *testing.T) {
	assert.True(t, validAppDir(appDirName("org/app")))
	assert.True(t, validAppDir(appDirName("app-id/ÄÖ..")))
	for _, d := range []string{"", "..", "a/b", "a.b", strings.Repeat("a", 300)} {
		assert.False(t, validAppDir(d), d)
	}
}

// TestConcurrentSendsAndExports: sends and export downloads of the same
// live hour at once: every download is a valid gzip of whole records, and
// every send is stored exactly once.
func TestConcurrentSendsAndExports(t *testing.T) {
	e := newEnv(t, Options{HistoryLive: true, HistoryRate: -1, SendLimits: SendLimits{UserCalls: -1, UserMessages: -1}})
	post(t, e.srv, "org/app", t0, "a", "b", "seed")
	u := e.exportURL("/org/app", t0.Format(hourLayout))
	const senders, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, senders*each+100)
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				body := fmt.Sprintf(`{"to":["u%d"],"type":"txt","body":{"msg":"%d"}}`, i, j)
				req, _ := http.NewRequest(http.MethodPost, e.url+"/org/app/messages/users", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+testToken)
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("send: %d", resp.StatusCode)
					}
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			resp, err := http.Get(u)
			if err != nil {
				errs <- err
				return
			}
			zr, err := gzip.NewReader(resp.Body)
			if err == nil {
				var raw []byte
				if raw, err = io.ReadAll(zr); err == nil {
					for _, line := range bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n")) {
						if !json.Valid(line) {
							err = fmt.Errorf("export line %q", line)
						}
					}
				}
			}
			resp.Body.Close()
			if err != nil {
				errs <- err
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	recs, err := e.srv.Messages("org/app")
	require.NoError(t, err)
	assert.Len(t, recs, 1+senders*each)
	ids := map[string]bool{}
	for _, r := range recs {
		ids[r.MsgID] = true
	}
	assert.Len(t, ids, len(recs))
	assert.Len(t, exportRecords(t, fetch(t, u, nil).body), 1+senders*each)
}
