package remote_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// TestSendMessageEmulator: messages sent to the emulator, in both URL
// shapes, are stored as the history carries them, under the ids the
// answer gave.
func TestSendMessageEmulator(t *testing.T) {
	for name, ep := range shapes {
		t.Run(name, func(t *testing.T) {
			e := newEmulator(t, emulator.Options{})
			c := emuClient(t, e, ep)
			key := "app-id/" + ep.AppID
			if ep.AppID == "" {
				key = ep.Org + "/" + ep.App
			}
			sends := []struct {
				kind     remote.ChatKind
				chatType string
				msg      remote.Message
			}{
				{remote.ToUsers, "chat", remote.Message{From: "admin", To: []string{"bob"}, Type: remote.MsgImage,
					Body: remote.MessageBody{URL: fileURL, Filename: "cat.png", FileLength: 10, Size: &remote.ImageSize{Width: 3, Height: 4}}}},
				{remote.ToGroups, "groupchat", remote.Message{From: "ops", To: []string{"66021836783617"}, Type: remote.MsgFile,
					Body: remote.MessageBody{URL: fileURL, Filename: "a.pdf", Secret: "s", FileLength: 5}}},
				{remote.ToRooms, "chatroom", remote.Message{From: "admin", To: []string{"1234", "5678"}, Type: remote.MsgVideo,
					Body: remote.MessageBody{URL: fileURL, Filename: "c.mp4", FileLength: 9, Thumb: fileURL, ThumbSecret: "t"}}},
			}
			ids := map[string]string{} // msg id -> target
			for _, s := range sends {
				res, err := c.SendMessage(context.Background(), s.kind, s.msg)
				require.NoError(t, err)
				for _, to := range s.msg.To {
					ids[res.IDs[to]] = to
				}
			}
			recs, err := e.srv.Messages(key)
			require.NoError(t, err)
			require.Len(t, recs, 4)
			for i, rec := range recs {
				s := sends[min(i, 2)]
				assert.Equal(t, ids[rec.MsgID], rec.To, "the answer's id is the stored message's")
				assert.Equal(t, s.chatType, rec.ChatType)
				assert.Equal(t, s.msg.From, rec.From)
				var body map[string]any
				require.NoError(t, json.Unmarshal(rec.Payload.Bodies[0], &body))
				assert.Equal(t, s.msg.Type, body["type"])
				assert.Equal(t, s.msg.Body.Filename, body["filename"])
				assert.Equal(t, fileURL, body["url"])
			}
		})
	}
}

// TestSendLimitsKeepEmulators: a drop of 1,000 files to one user, big
// fan-outs and group and room messages, all at once, drain through the
// client's own limiters without the emulator (which enforces the
// documented limits on the same fake clock) refusing a single call.
func TestSendLimitsKeepEmulators(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := emulator.New(emulator.Options{Dir: filepath.Join(t.TempDir(), "data"), Token: testToken, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		defer s.Close()
		s.SetNow(time.Now) // the bubble's clock
		var refused atomic.Int32
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, r)
			if rec.Code != http.StatusOK {
				refused.Add(1)
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
		})
		c := newClient(t, "http://chat.invalid", func(o *remote.Options) {
			o.Transport = handlerTransport{h}
			o.Retry = remote.RetryPolicy{MaxAttempts: 1} // any refusal fails
		})
		start := time.Now()
		var wg sync.WaitGroup
		send := func(kind remote.ChatKind, to []string) {
			_, err := c.SendMessage(context.Background(), kind, remote.Message{From: "admin", To: to, Type: "file",
				Body: remote.MessageBody{URL: fileURL, Filename: "a.pdf", FileLength: 1}})
			assert.NoError(t, err)
		}
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < 1000; i += 8 {
					send(remote.ToUsers, []string{"alice"})
				}
			})
		}
		wg.Go(func() {
			for i := range 10 {
				to := make([]string, 600)
				for j := range to {
					to[j] = fmt.Sprintf("u%d_%d", i, j)
				}
				send(remote.ToUsers, to)
			}
		})
		for _, kind := range []remote.ChatKind{remote.ToGroups, remote.ToRooms} {
			wg.Go(func() {
				for range 100 {
					send(kind, []string{"1234"})
				}
			})
		}
		wg.Wait()
		took := time.Since(start)
		assert.Zero(t, refused.Load(), "the emulator refused calls")
		recs, err := s.Messages("app-id/" + testAppID)
		require.NoError(t, err)
		assert.Len(t, recs, 1000+6000+200)
		// 7,000 user recipients at 6,000 a minute: a little over a minute.
		assert.Greater(t, took, time.Minute)
		assert.Less(t, took, 2*time.Minute)
		t.Logf("1,000 files and 6,000 fan-out recipients to users, 200 group and room messages: %v on the fake clock", took)
	})
}
