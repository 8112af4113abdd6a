package remote_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
)

// sendServer speaks the documented send API: POST {base}/messages/{kind}
// with a JSON message; 400 message_send_error for an empty from or too
// many recipients, 400 invalid_request_body for a body that is not a
// message; 200 with data mapping every target to a new message id.
type sendServer struct {
	mu     sync.Mutex
	got    []map[string]any // the messages received, decoded. GUARDED_BY(mu)
	kinds  []string         // their kinds. GUARDED_BY(mu)
	times  []time.Time      // when each arrived. GUARDED_BY(mu)
	nextID int              // GUARDED_BY(mu)
	// before, if set, answers instead of the server when it returns true
	// (n counts calls from 1).
	before func(w http.ResponseWriter, n int) bool
}

func (s *sendServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind, ok := strings.CutPrefix(r.URL.Path, "/app-id/"+testAppID+"/messages/")
	if !ok || r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer "+testToken {
		status(404, errorBody("not_found", "no such call"))(w, r)
		return
	}
	s.mu.Lock()
	s.nextID++
	n := s.nextID
	s.mu.Unlock()
	if s.before != nil && s.before(w, n) {
		return
	}
	data, _ := io.ReadAll(r.Body)
	var m map[string]any
	if json.Unmarshal(data, &m) != nil || r.Header.Get("Content-Type") != "application/json" {
		status(400, errorBody(remote.CodeInvalidRequestBody, "request body is not a message"))(w, r)
		return
	}
	if from, _ := m["from"].(string); from == "" {
		status(400, errorBody(remote.CodeMessageSendError, "param from can't be empty"))(w, r)
		return
	}
	to, _ := m["to"].([]any)
	if limit := map[string]int{"users": 600, "chatgroups": 3, "chatrooms": 10}[kind]; len(to) > limit {
		status(400, errorBody(remote.CodeMessageSendError, fmt.Sprintf("params to's size can't exceed limit %d", limit)))(w, r)
		return
	}
	ids := map[string]string{}
	for i, t := range to {
		ids[t.(string)] = fmt.Sprintf("10294575008705%05d", n*1000+i)
	}
	s.mu.Lock()
	s.got = append(s.got, m)
	s.kinds = append(s.kinds, kind)
	s.times = append(s.times, time.Now())
	s.mu.Unlock()
	ans, _ := json.Marshal(map[string]any{"action": "post", "path": "/messages/" + kind, "uri": "http://" + r.Host + r.URL.Path,
		"data": ids, "timestamp": 1554371126338, "duration": 0})
	status(200, string(ans))(w, r)
}

func (s *sendServer) received() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.got...)
}

const fileURL = "https://a1.example.com/app-id/" + testAppID + "/chatfiles/" + testUUID

func TestSendMessageBodies(t *testing.T) {
	srv := &sendServer{}
	c := newClient(t, newServer(t, srv).URL)
	for _, tc := range []struct {
		kind remote.ChatKind
		msg  remote.Message
		want string // the message's JSON as the server must get it
	}{
		{remote.ToUsers, remote.Message{From: "admin", To: []string{"bob"}, Type: remote.MsgImage,
			Body: remote.MessageBody{URL: fileURL, Filename: "cat.png", FileLength: 1234, Size: &remote.ImageSize{Width: 640, Height: 480}}},
			`{"from":"admin","to":["bob"],"type":"img","body":{"url":"` + fileURL + `","filename":"cat.png","file_length":1234,"size":{"width":640,"height":480}},"ext":{},"sync_device":false}`},
		{remote.ToGroups, remote.Message{From: "ops", To: []string{"66021836783617"}, Type: remote.MsgVideo,
			Body: remote.MessageBody{URL: fileURL, Filename: "clip.mp4", Secret: "s1", FileLength: 99, Length: 12, Thumb: fileURL + "x", ThumbSecret: "s2"}},
			`{"from":"ops","to":["66021836783617"],"type":"video","body":{"url":"` + fileURL + `","filename":"clip.mp4","secret":"s1","file_length":99,"length":12,"thumb":"` + fileURL + `x","thumb_secret":"s2"},"ext":{},"sync_device":false}`},
		{remote.ToRooms, remote.Message{From: "admin", To: []string{"1234", "5678"}, Type: remote.MsgAudio,
			Body: remote.MessageBody{URL: fileURL, Filename: "v.ogg", FileLength: 7}},
			`{"from":"admin","to":["1234","5678"],"type":"audio","body":{"url":"` + fileURL + `","filename":"v.ogg","file_length":7},"ext":{},"sync_device":false}`},
		{remote.ToUsers, remote.Message{From: "admin", To: []string{"a.b-c_d"}, Type: remote.MsgFile,
			Body: remote.MessageBody{URL: fileURL, Filename: `report "Q3".pdf`, Secret: "X9dX", FileLength: 5}},
			`{"from":"admin","to":["a.b-c_d"],"type":"file","body":{"url":"` + fileURL + `","filename":"report \"Q3\".pdf","secret":"X9dX","file_length":5},"ext":{},"sync_device":false}`},
	} {
		t.Run(tc.msg.Type, func(t *testing.T) {
			n := len(srv.received())
			res, err := c.SendMessage(context.Background(), tc.kind, tc.msg)
			require.NoError(t, err)
			require.Len(t, res.IDs, len(tc.msg.To))
			for _, to := range tc.msg.To {
				assert.NotEmpty(t, res.IDs[to], to)
			}
			assert.Equal(t, time.UnixMilli(1554371126338), res.Timestamp)
			got := srv.received()
			require.Len(t, got, n+1)
			b, _ := json.Marshal(got[n])
			assert.JSONEq(t, tc.want, string(b))
			assert.Equal(t, string(tc.kind), srv.kinds[n])
		})
	}
}

// TestSendMessageRefusedLocally: a message the service would refuse with
// 400 fails before any call, saying which limit it breaks.
func TestSendMessageRefusedLocally(t *testing.T) {
	srv := &sendServer{}
	c := newClient(t, newServer(t, srv).URL)
	names := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("u%d", i)
		}
		return out
	}
	body := remote.MessageBody{URL: fileURL, Filename: "a.pdf"}
	for _, tc := range []struct {
		name string
		kind remote.ChatKind
		msg  remote.Message
		says string
	}{
		{"empty from", remote.ToUsers, remote.Message{To: []string{"bob"}, Type: "file", Body: body}, "sender (from) is empty"},
		{"bad from", remote.ToUsers, remote.Message{From: "a b", To: []string{"bob"}, Type: "file", Body: body}, "not a well-formed user name"},
		{"no recipient", remote.ToUsers, remote.Message{From: "admin", Type: "file", Body: body}, "no recipient"},
		{"601 users", remote.ToUsers, remote.Message{From: "admin", To: names(601), Type: "file", Body: body}, "at most 600 users"},
		{"4 groups", remote.ToGroups, remote.Message{From: "admin", To: names(4), Type: "file", Body: body}, "at most 3 chatgroups"},
		{"11 rooms", remote.ToRooms, remote.Message{From: "admin", To: names(11), Type: "file", Body: body}, "at most 10 chatrooms"},
		{"bad recipient", remote.ToUsers, remote.Message{From: "admin", To: []string{"../x"}, Type: "file", Body: body}, "not a well-formed name"},
		{"twice", remote.ToUsers, remote.Message{From: "admin", To: []string{"bob", "bob"}, Type: "file", Body: body}, "named twice"},
		{"bad type", remote.ToUsers, remote.Message{From: "admin", To: []string{"bob"}, Type: "txt", Body: body}, "not one of img"},
		{"bad kind", "friends", remote.Message{From: "admin", To: []string{"bob"}, Type: "file", Body: body}, "unknown kind"},
		{"no url", remote.ToUsers, remote.Message{From: "admin", To: []string{"bob"}, Type: "file", Body: remote.MessageBody{Filename: "a"}}, "needs a url"},
		{"over 5 KB", remote.ToUsers, remote.Message{From: "admin", To: []string{"bob"}, Type: "file",
			Body: remote.MessageBody{URL: fileURL, Filename: strings.Repeat("x", 5000) + ".pdf"}}, "at most 5120 (5 KB) of body and ext"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.SendMessage(context.Background(), tc.kind, tc.msg)
			require.ErrorIs(t, err, remote.ErrInvalidMessage)
			assert.Contains(t, err.Error(), tc.says)
			assert.False(t, remote.IsRetryable(err))
		})
	}
	assert.Empty(t, srv.received(), "nothing was sent")

	// Exactly at the limit goes.
	long := remote.Message{From: "admin", To: []string{"bob"}, Type: "file", Body: remote.MessageBody{URL: fileURL, Filename: "a"}}
	b, _ := json.Marshal(long.Body)
	long.Body.Filename = strings.Repeat("y", remote.MaxMessageBody-len(b)-len("{}")+1)
	_, err := c.SendMessage(context.Background(), remote.ToUsers, long)
	require.NoError(t, err)
}

// TestSendMessageErrors: 400s are permanent with the service's reason;
// 403 message_send_error (reach limit), 429 and 5xx are retried.
func TestSendMessageErrors(t *testing.T) {
	msg := remote.Message{From: "admin", To: []string{"bob"}, Type: "file", Body: remote.MessageBody{URL: fileURL, Filename: "a.pdf"}}
	for _, tc := range []struct {
		name    string
		answer  http.HandlerFunc
		calls   int  // calls made
		ok      bool // succeeds in the end (the answer given once, then the server's)
		invalid bool
		says    string
	}{
		{"400 message_send_error", status(400, errorBody(remote.CodeMessageSendError, "message is too large")), 1, false, true, "message is too large"},
		{"400 invalid_request_body", status(400, errorBody(remote.CodeInvalidRequestBody, "request body is invalid")), 1, false, true, "invalid_request_body"},
		{"403 reach limit", status(403, errorBody(remote.CodeMessageSendError, "message send reach limit")), 2, true, false, ""},
		{"429 reach_limit", status(429, errorBody(remote.CodeReachLimit, "This request has reached API limit.")), 2, true, false, ""},
		{"503", status(503, "busy"), 2, true, false, ""},
		{"403 other", status(403, errorBody("forbidden_op", "not allowed")), 1, false, false, "forbidden_op"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &sendServer{before: func(w http.ResponseWriter, n int) bool {
				if n == 1 {
					tc.answer(w, nil)
					return true
				}
				return false
			}}
			c := newClient(t, newServer(t, srv).URL)
			res, err := c.SendMessage(context.Background(), remote.ToUsers, msg)
			srv.mu.Lock()
			calls := srv.nextID
			srv.mu.Unlock()
			assert.Equal(t, tc.calls, calls)
			if tc.ok {
				require.NoError(t, err)
				assert.NotEmpty(t, res.IDs["bob"])
				return
			}
			require.Error(t, err)
			assert.Equal(t, tc.invalid, remote.IsInvalid(err), "IsInvalid")
			assert.Contains(t, err.Error(), tc.says)
		})
	}
}

// TestSendMessageAnswer: a 200 that does not give every target a message
// id is a malformed answer, not retried (the message may have gone).
func TestSendMessageAnswer(t *testing.T) {
	msg := remote.Message{From: "admin", To: []string{"bob", "carol"}, Type: "file", Body: remote.MessageBody{URL: fileURL, Filename: "a.pdf"}}
	for name, body := range map[string]string{
		"not json":   `<html>`,
		"no data":    `{"action":"post"}`,
		"one short":  `{"data":{"bob":"1"}}`,
		"number id":  `{"data":{"bob":1,"carol":"2"}}`,
		"empty id":   `{"data":{"bob":"","carol":"2"}}`,
		"odd id":     `{"data":{"bob":"1 2","carol":"../2"}}`,
		"long id":    `{"data":{"bob":"` + strings.Repeat("1", 65) + `","carol":"2"}}`,
		"huge":       `{"data":{"bob":"1","carol":"2"},"x":"` + strings.Repeat("x", 1<<20) + `"}`,
		"data array": `{"data":["1","2"]}`,
	} {
		t.Run(name, func(t *testing.T) {
			s := &script{steps: []http.HandlerFunc{status(200, body)}}
			c := newClient(t, newServer(t, s).URL)
			_, err := c.SendMessage(context.Background(), remote.ToUsers, msg)
			require.ErrorIs(t, err, remote.ErrMalformedAnswer)
			assert.Equal(t, 1, s.count())
		})
	}
}

// handlerTransport serves requests with a handler, in memory: no sockets,
// so that the limiter tests run in a synctest bubble on its fake clock.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// maxIn is the largest sum of weights of events within any window.
func maxIn(times []time.Time, weights []int, window time.Duration) int {
	best := 0
	for i := range times {
		sum := 0
		for j := i; j < len(times) && times[j].Sub(times[i]) < window; j++ {
			sum += weights[j]
		}
		best = max(best, sum)
	}
	return best
}

// TestSendLimits drains backlogs of sends on the fake clock and checks the
// service's limits hold in every window: users 100 calls/s and 6,000
// recipients a minute, groups and rooms 20 calls/s; and that an upload is
// not held up by a send backlog.
func TestSendLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &sendServer{}
		mux := http.NewServeMux()
		mux.Handle("/app-id/"+testAppID+"/messages/", srv)
		mux.HandleFunc("/app-id/"+testAppID+"/chatfiles", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			status(200, uploadAnswer("http://x", testUUID, ""))(w, r)
		})
		c := newClient(t, "http://chat.invalid", func(o *remote.Options) {
			o.Transport = handlerTransport{mux}
			o.RateLimit = 0 // the defaults, uploads included
		})
		defer c.Close()
		ctx := context.Background()
		send := func(kind remote.ChatKind, to []string) {
			_, err := c.SendMessage(ctx, kind, remote.Message{From: "admin", To: to, Type: "file", Body: remote.MessageBody{URL: fileURL, Filename: "a"}})
			assert.NoError(t, err)
		}
		var wg sync.WaitGroup
		start := time.Now()
		// 1,000 files to one user, 8 senders at once.
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < 1000; i += 8 {
					send(remote.ToUsers, []string{"alice"})
				}
			})
		}
		// An upload meanwhile goes at once.
		time.Sleep(time.Second)
		up := time.Now()
		_, err := c.Upload(ctx, remote.UploadRequest{Name: "a", File: readerAt("x"), Size: 1})
		require.NoError(t, err)
		assert.Less(t, time.Since(up), 50*time.Millisecond, "an upload waits behind no send")
		// Big fan-outs: 30 messages to 500 users each.
		for w := range 3 {
			wg.Go(func() {
				for i := w; i < 30; i += 3 {
					to := make([]string, 500)
					for j := range to {
						to[j] = fmt.Sprintf("u%d_%d", i, j)
					}
					send(remote.ToUsers, to)
				}
			})
		}
		for _, kind := range []remote.ChatKind{remote.ToGroups, remote.ToRooms} {
			wg.Go(func() {
				for range 200 {
					send(kind, []string{"1234"})
				}
			})
		}
		wg.Wait()
		took := time.Since(start)

		srv.mu.Lock()
		defer srv.mu.Unlock()
		byKind := map[string][]time.Time{}
		var userTimes []time.Time
		var userWeights []int
		for i, k := range srv.kinds {
			byKind[k] = append(byKind[k], srv.times[i])
			if k == "users" {
				userTimes = append(userTimes, srv.times[i])
				userWeights = append(userWeights, len(srv.got[i]["to"].([]any)))
			}
		}
		ones := func(n int) []int {
			w := make([]int, n)
			for i := range w {
				w[i] = 1
			}
			return w
		}
		require.Len(t, byKind["users"], 1030)
		assert.LessOrEqual(t, maxIn(userTimes, ones(len(userTimes)), time.Second), 100, "users: calls in any second")
		assert.LessOrEqual(t, maxIn(userTimes, userWeights, time.Minute), 6000, "users: recipients in any minute")
		for _, k := range []string{"chatgroups", "chatrooms"} {
			require.Len(t, byKind[k], 200)
			assert.LessOrEqual(t, maxIn(byKind[k], ones(200), time.Second), 20, "%s: calls in any second", k)
		}
		// 16,000 recipients at 6,000 a minute (less the first bucket):
		// the drain takes as long as the limit makes it, and no longer.
		total := 1000 + 30*500
		floor := time.Duration(float64(total-remote.MaxUsersPerMessage) / 90 * float64(time.Second))
		assert.GreaterOrEqual(t, took, floor-time.Second)
		assert.Less(t, took, floor+10*time.Second)
		t.Logf("drained %d user recipients, 400 group and room messages in %v (fake clock)", total, took)
	})
}

// TestSendLimitsOff: negative limits turn them off.
func TestSendLimitsOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &sendServer{}
		c := newClient(t, "http://chat.invalid", func(o *remote.Options) {
			o.Transport = handlerTransport{srv}
			o.SendLimits = remote.SendLimits{UserCalls: -1, UserMessages: -1, GroupCalls: -1, RoomCalls: -1}
		})
		start := time.Now()
		for range 500 {
			_, err := c.SendMessage(context.Background(), remote.ToGroups, remote.Message{From: "admin", To: []string{"1"}, Type: "file", Body: remote.MessageBody{URL: fileURL, Filename: "a"}})
			require.NoError(t, err)
		}
		assert.Zero(t, time.Since(start))
	})
}
