//go:build linux

package mount_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// fakeHistory serves the history export of the documented wire format in
// front of the emulator (which keeps the files): GET
// {base}/chatmessages/{hour} lists presigned-style links to
// /history-store/<hour>.gz, served only without a token. Hours it has no
// file for answer 404 storage_object_not_found; hours in notYet answer 400
// "…maybe chat message history is expired or unstored".
type fakeHistory struct {
	mu     sync.Mutex
	files  map[string][]byte // hour key -> gzip
	notYet map[string]bool
	calls  map[string]int
	authed atomic.Int32 // store fetches that carried a token
}

func installHistory(svc *service) *fakeHistory {
	fh := &fakeHistory{files: map[string][]byte{}, notYet: map[string]bool{}, calls: map[string]int{}}
	hook := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if hour, ok := strings.CutPrefix(r.URL.Path, "/history-store/"); ok {
			if r.Header.Get("Authorization") != "" {
				fh.authed.Add(1)
			}
			fh.mu.Lock()
			data, ok := fh.files[strings.TrimSuffix(hour, ".gz")]
			fh.mu.Unlock()
			if !ok || r.URL.Query().Get("Signature") == "" {
				http.Error(w, "AccessDenied", http.StatusForbidden)
				return true
			}
			w.Write(data)
			return true
		}
		hour, ok := strings.CutPrefix(r.URL.Path, "/app-id/"+appID+"/chatmessages/")
		if !ok {
			return false
		}
		fh.mu.Lock()
		fh.calls[hour]++
		_, has := fh.files[hour]
		notYet := fh.notYet[hour]
		fh.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case has:
			fmt.Fprintf(w, `{"action":"get","uri":"%s/app-id/%s/chatmessages/%s","data":[{"url":"%s/history-store/%s.gz?Expires=%d&Signature=c2ln"}],"timestamp":1,"duration":0}`,
				svc.url, appID, hour, svc.url, hour, time.Now().Add(30*time.Minute).Unix())
		case notYet:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":"illegal_argument","exception":"java.lang.IllegalArgumentException","timestamp":1,"duration":0,"error_description":"illegal arguments: appkey: org#%s, time: %s, maybe chat message history is expired or unstored"}`, appID, hour)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"storage_object_not_found","exception":"x","timestamp":1,"duration":0,"error_description":"storage object not found"}`)
		}
		return true
	}
	svc.hook.Store(&hook)
	return fh
}

func (fh *fakeHistory) set(hour string, records ...string) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	io.WriteString(zw, strings.Join(records, "\n")+"\n")
	zw.Close()
	fh.mu.Lock()
	fh.files[hour] = b.Bytes()
	fh.mu.Unlock()
}

func (fh *fakeHistory) called(hour string) int {
	fh.mu.Lock()
	defer fh.mu.Unlock()
	return fh.calls[hour]
}

// histRecord is one export line.
func histRecord(t *testing.T, msgID string, sent time.Time, chatType, from, to string, bodies ...map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"msg_id": msgID, "timestamp": sent.UnixMilli(), "direction": "outgoing",
		"from": from, "to": to, "chat_type": chatType,
		"payload": map[string]any{"bodies": bodies, "ext": map[string]any{}, "from": from, "to": to}})
	require.NoError(t, err)
	return string(b)
}

// withHistory turns the import on for a window, with no limiter.
func withHistory(window time.Duration) hopt {
	return func(o *mount.Options, a *config.App) {
		a.History = &window
		o.HistoryPerMinute = -1
	}
}

func lstatTime(t *testing.T, p string) time.Time {
	t.Helper()
	st, err := os.Lstat(p)
	require.NoError(t, err)
	return st.ModTime().UTC()
}

func TestChatsShowTheHistorysAttachments(t *testing.T) {
	svc := newService(t, emulator.Options{})
	fh := installHistory(svc)
	c := svc.client(t, appID)
	upload := func(name string, data []byte, restrict bool) remote.UploadResult {
		res, err := c.Upload(context.Background(), remote.UploadRequest{Name: name, File: bytes.NewReader(data), Size: int64(len(data)), Restrict: restrict})
		require.NoError(t, err)
		return res
	}
	img := testJPEG(t, 300, 200)
	pdf := append([]byte("%PDF-1.4\n"), randomBytes(t, 20000)...)
	video := append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), randomBytes(t, 30000)...)
	thumb := testJPEG(t, 64, 48)
	audio := randomBytes(t, 7000)
	other := randomBytes(t, 900)
	rImg := upload("cat.jpg", img, false)
	rPDF := upload("report.pdf", pdf, true)
	rThumb := upload("thumb.jpg", thumb, true)
	rVideo := upload("clip.mp4", video, false)
	rAudio := upload("voice.amr", audio, false)
	rOther := upload("other.bin", other, true)
	url := func(r remote.UploadResult) string { return r.URI + "/" + r.UUID }

	now := time.Now().UTC()
	hour := now.Truncate(time.Hour).Add(-2 * time.Hour)
	sent := hour.Add(17*time.Minute + 3*time.Second)
	key := remote.HourKey(hour, time.UTC)
	fh.set(key,
		histRecord(t, "1001", sent, "chat", "alice", "bob",
			map[string]any{"type": "img", "url": url(rImg), "filename": "cat.jpg", "size": map[string]int{"width": 300, "height": 200}, "file_length": len(img)}),
		histRecord(t, "1002", sent.Add(time.Minute), "groupchat", "alice", "1234567890",
			map[string]any{"type": "txt", "msg": "see attached"},
			map[string]any{"type": "file", "url": url(rPDF), "filename": "report.pdf", "secret": rPDF.ShareSecret, "file_length": len(pdf)}),
		histRecord(t, "1003", sent.Add(2*time.Minute), "chatroom", "carol", "room-9",
			map[string]any{"type": "video", "url": url(rVideo), "filename": "clip.mp4", "length": 3, "file_length": len(video),
				"thumb": url(rThumb), "thumb_secret": rThumb.ShareSecret}),
		histRecord(t, "1004", sent.Add(3*time.Minute), "chat", "bob", "dave",
			map[string]any{"type": "audio", "url": url(rAudio), "filename": "voice.amr", "Length": 4, "file_length": len(audio)},
			// A combined message's body: no type; on another host, in the
			// org/app shape, with the secret in the url.
			map[string]any{"url": "https://a1.easemob.com/org/app/chatfiles/" + rOther.UUID + "?share-secret=" + rOther.ShareSecret, "filename": "cat.jpg"}),
	)
	notYet := remote.HourKey(now.Truncate(time.Hour).Add(-time.Hour), time.UTC)
	fh.notYet[notYet] = true

	h := newHarness(t, svc, "", withHistory(4*time.Hour))
	chat := func(parts ...string) string { return h.path(append([]string{"chats"}, parts...)...) }
	eventually(t, 15*time.Second, "the import", func() bool {
		_, err := os.Lstat(chat("users", "dave", "cat.jpg"))
		return err == nil
	})

	// The folders and their entries.
	assert.ElementsMatch(t, []string{"users", "groups", "rooms"}, readdirnames(t, chat()))
	assert.Equal(t, []string{"alice", "bob", "dave"}, sorted(readdirnames(t, chat("users"))))
	assert.Equal(t, []string{"cat.jpg"}, readdirnames(t, chat("users", "alice")))
	assert.Equal(t, []string{"cat (2).jpg", "cat.jpg", "voice.amr"}, sorted(readdirnames(t, chat("users", "bob"))),
		"one-to-one messages show in both users' folders; a name taken gets a suffix")
	assert.Equal(t, []string{"report.pdf"}, readdirnames(t, chat("groups", "1234567890")))
	assert.Equal(t, []string{"clip.mp4"}, readdirnames(t, chat("rooms", "room-9")))
	assert.Empty(t, readdirnames(t, chat("users", "nobody")), "a well-formed user with nothing is an empty folder")
	_, err := os.Stat(chat("users", "no body"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	// Links, times, sizes and bytes.
	link, err := os.Readlink(chat("users", "bob", "cat.jpg"))
	require.NoError(t, err)
	assert.Equal(t, "../../../files/"+rImg.UUID, link)
	assert.Equal(t, sent.Truncate(time.Second), lstatTime(t, chat("users", "bob", "cat.jpg")), "the message's time as mtime")
	st, err := os.Stat(chat("groups", "1234567890", "report.pdf"))
	require.NoError(t, err)
	assert.Equal(t, int64(len(pdf)), st.Size(), "the size from file_length, through the link")
	for p, want := range map[string][]byte{
		chat("users", "alice", "cat.jpg"):          img,
		chat("groups", "1234567890", "report.pdf"): pdf,
		chat("rooms", "room-9", "clip.mp4"):        video,
		chat("users", "dave", "voice.amr"):         audio,
		chat("users", "dave", "cat.jpg"):           other,
		h.path("files", rVideo.UUID+".thumb"):      thumb,
		h.path("by-name", "report.pdf"):            pdf,
	} {
		got, err := os.ReadFile(p)
		require.NoError(t, err, p)
		assert.True(t, bytes.Equal(want, got), "bytes of %s", p)
	}

	// The message's facts as xattrs of files/<uuid>.
	f := h.path("files", rPDF.UUID)
	assert.Equal(t, "report.pdf", getxattr(t, f, "user.chatfs.name"))
	assert.Equal(t, rPDF.ShareSecret, getxattr(t, f, "user.chatfs.share_secret"))
	assert.Equal(t, "alice", getxattr(t, f, "user.chatfs.from"))
	assert.Equal(t, "1234567890", getxattr(t, f, "user.chatfs.to"))
	assert.Equal(t, "groupchat", getxattr(t, f, "user.chatfs.chat_type"))
	assert.Equal(t, "1002", getxattr(t, f, "user.chatfs.msg_id"))
	assert.Equal(t, sent.Add(time.Minute).Truncate(time.Second).Format(time.RFC3339), getxattr(t, f, "user.chatfs.sent"))
	assert.Equal(t, rOther.ShareSecret, getxattr(t, h.path("files", rOther.UUID), "user.chatfs.share_secret"), "from ?share-secret=")
	assert.Zero(t, fh.authed.Load(), "the presigned links were fetched without the token")

	// Hours: the one not made yet waits, the rest are done; status sees it.
	eventually(t, 10*time.Second, "the round's end", func() bool {
		v, _ := getxattrErr(chat(), "user.chatfs.history")
		return strings.Contains(v, "next attempt")
	})
	progress := getxattr(t, chat(), "user.chatfs.history")
	assert.Contains(t, progress, "3 of 4 hours done, 1 waiting, 0 unavailable, 0 failed, 0 to do; 5 attachments")
	assert.Equal(t, 1, fh.called(notYet))

	// A remount keeps everything, history off.
	h.unmount()
	h2 := newHarness(t, svc, h.state)
	assert.Equal(t, []string{"cat (2).jpg", "cat.jpg", "voice.amr"}, sorted(readdirnames(t, h2.path("chats", "users", "bob"))))
	assert.Equal(t, "1002", getxattr(t, h2.path("files", rPDF.UUID), "user.chatfs.msg_id"))
	assert.Equal(t, "off", getxattr(t, h2.path("chats"), "user.chatfs.history"))
	assert.Equal(t, 1, fh.called(key), "nothing asked with history off")

	// chats/ is read-only.
	assert.ErrorIs(t, os.Remove(h2.path("chats", "users", "bob", "cat.jpg")), syscall.EROFS)
	assert.ErrorIs(t, os.WriteFile(h2.path("chats", "users", "bob", "new.txt"), []byte("x"), 0o644), syscall.EROFS)
	assert.ErrorIs(t, os.Mkdir(h2.path("chats", "users", "zed"), 0o755), syscall.EEXIST, "every well-formed id is a folder already")
	assert.ErrorIs(t, os.Remove(h2.path("chats", "users", "bob")), syscall.EROFS)
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
