//go:build linux

package mount_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
	"github.com/chatfs/chatfs/thumbs"
)

// historyCalls counts the emulator's GET chatmessages/{hour} answers per
// hour, in front of the real emulator (it answers every call itself).
type historyCalls struct {
	mu    sync.Mutex
	calls map[string]int
}

func countHistory(svc *service) *historyCalls {
	hc := &historyCalls{calls: map[string]int{}}
	hook := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if hour, ok := strings.CutPrefix(r.URL.Path, "/app-id/"+appID+"/chatmessages/"); ok {
			hc.mu.Lock()
			hc.calls[hour]++
			hc.mu.Unlock()
		}
		return false
	}
	svc.hook.Store(&hook)
	return hc
}

func (hc *historyCalls) of(hour string) int {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	return hc.calls[hour]
}

// send posts a message through the emulator's REST API, as an app server
// does, and returns the message id per target.
func (s *service) send(t *testing.T, kind, from string, to []string, typ string, body map[string]any) map[string]string {
	t.Helper()
	req, err := json.Marshal(map[string]any{"from": from, "to": to, "type": typ, "body": body})
	require.NoError(t, err)
	r, err := http.NewRequest(http.MethodPost, s.url+"/app-id/"+appID+"/messages/"+kind, bytes.NewReader(req))
	require.NoError(t, err)
	r.Header.Set("Authorization", "Bearer "+s.emu.Token())
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	var a struct {
		Data map[string]string `json:"data"`
	}
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&a))
	require.Len(t, a.Data, len(to))
	return a.Data
}

// at runs fn with the emulator's clock stopped at when, so that what fn
// sends is stamped with it.
func (s *service) at(when time.Time, fn func()) {
	s.emu.SetNow(func() time.Time { return when })
	defer s.emu.SetNow(nil)
	fn()
}

func rawJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// Messages sent through the real emulator, over its REST API and with
// past timestamps, come out of its history export into chats/: names,
// times, sizes, xattrs and bytes; an hour not made yet shows up once it
// is; an hour past the retention is given up; a remount keeps everything.
func TestChatsFromTheEmulatorsHistory(t *testing.T) {
	now := time.Now().UTC()
	top := now.Truncate(time.Hour)
	h2 := top.Add(-2 * time.Hour)   // over and made
	h1 := top.Add(-time.Hour)       // over, not made yet (HistoryDelay)
	h30 := top.Add(-30 * time.Hour) // past the retention
	svc := newService(t, emulator.Options{
		HistoryDelay:     now.Sub(top) + 30*time.Minute, // h2 made, h1 not
		HistoryRetention: 27 * time.Hour,                // hours from top-28h on are gone
		HistoryRate:      -1,
	})
	calls := countHistory(svc)
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
	late := testJPEG(t, 50, 40)
	old := randomBytes(t, 300)
	rImg := upload("cat.jpg", img, false)
	rPDF := upload("report.pdf", pdf, true)
	rThumb := upload("thumb.jpg", thumb, true)
	rVideo := upload("clip.mp4", video, false)
	rAudio := upload("voice.amr", audio, true)
	rOther := upload("other.bin", other, true)
	rLate := upload("late.jpg", late, false)
	rOld := upload("old.bin", old, false)

	// Through the REST API, stamped in h2 by the emulator's clock.
	sent := h2.Add(17*time.Minute + 3*time.Second)
	var idImg, idPDF, idVideo, idAudio map[string]string
	svc.at(sent, func() {
		idImg = svc.send(t, "users", "alice", []string{"bob"}, "img", map[string]any{
			"url": rImg.URL(), "filename": "cat.jpg", "secret": "", "file_length": len(img),
			"size": map[string]int{"width": 300, "height": 200}})
	})
	svc.at(sent.Add(time.Minute), func() {
		idPDF = svc.send(t, "chatgroups", "alice", []string{"1234567890"}, "file", map[string]any{
			"url": rPDF.URL(), "filename": "report.pdf", "secret": rPDF.ShareSecret, "file_length": len(pdf)})
	})
	svc.at(sent.Add(2*time.Minute), func() {
		idVideo = svc.send(t, "chatrooms", "carol", []string{"room-9"}, "video", map[string]any{
			"url": rVideo.URL(), "filename": "clip.mp4", "length": 3, "file_length": len(video),
			"thumb": rThumb.URL(), "thumb_secret": rThumb.ShareSecret})
	})
	svc.at(sent.Add(3*time.Minute), func() {
		// On another host, in the org/app shape, the secret in the url;
		// to two users at once.
		idAudio = svc.send(t, "users", "bob", []string{"dave", "erin"}, "audio", map[string]any{
			"url":      "https://a1.easemob.com/org1/app1/chatfiles/" + rAudio.UUID + "?share-secret=" + rAudio.ShareSecret,
			"filename": "voice.amr", "length": 4, "file_length": len(audio)})
	})
	// With chosen timestamps: a combined message's body (no type) in h2,
	// one in h1 (not made yet), one in h30 (past the retention).
	_, err := svc.emu.PostMessage("app-id/"+appID, emulator.Message{From: "dave", To: []string{"bob"}, Time: sent.Add(4 * time.Minute),
		Body: rawJSON(t, map[string]any{"url": svc.url + "/org/app/chatfiles/" + rOther.UUID, "filename": "cat.jpg",
			"secret": rOther.ShareSecret, "file_length": len(other)})})
	require.NoError(t, err)
	idLate, err := svc.emu.PostMessage("app-id/"+appID, emulator.Message{From: "alice", To: []string{"bob"}, Type: "img", Time: h1.Add(5 * time.Minute),
		Body: rawJSON(t, map[string]any{"url": rLate.URL(), "filename": "late.jpg", "file_length": len(late)})})
	require.NoError(t, err)
	_, err = svc.emu.PostMessage("app-id/"+appID, emulator.Message{From: "alice", To: []string{"bob"}, Type: "file", Time: h30.Add(5 * time.Minute),
		Body: rawJSON(t, map[string]any{"url": rOld.URL(), "filename": "old.bin", "file_length": len(old)})})
	require.NoError(t, err)

	h := newHarness(t, svc, "", withHistory(31*time.Hour), func(o *mount.Options, a *config.App) { a.HistoryInterval = time.Second })
	chat := func(parts ...string) string { return h.path(append([]string{"chats"}, parts...)...) }
	eventually(t, 20*time.Second, "the import of h2", func() bool {
		_, err := os.Lstat(chat("users", "bob", "cat (2).jpg"))
		return err == nil
	})

	// Folders and entries.
	assert.ElementsMatch(t, []string{"users", "groups", "rooms"}, readdirnames(t, chat()))
	assert.Equal(t, []string{"alice", "bob", "dave", "erin"}, sorted(readdirnames(t, chat("users"))))
	assert.Equal(t, []string{"cat.jpg"}, readdirnames(t, chat("users", "alice")))
	assert.Equal(t, []string{"cat (2).jpg", "cat.jpg", "voice.amr"}, sorted(readdirnames(t, chat("users", "bob"))),
		"one entry per uuid however many messages carry it; a name taken gets a suffix")
	assert.Equal(t, []string{"cat.jpg", "voice.amr"}, sorted(readdirnames(t, chat("users", "dave"))))
	assert.Equal(t, []string{"voice.amr"}, readdirnames(t, chat("users", "erin")))
	assert.Equal(t, []string{"1234567890"}, readdirnames(t, chat("groups")))
	assert.Equal(t, []string{"report.pdf"}, readdirnames(t, chat("groups", "1234567890")))
	assert.Equal(t, []string{"room-9"}, readdirnames(t, chat("rooms")))
	assert.Equal(t, []string{"clip.mp4"}, readdirnames(t, chat("rooms", "room-9")))

	// Links and times: the message's time as mtime.
	for p, want := range map[string]remote.UploadResult{
		chat("users", "alice", "cat.jpg"):          rImg,
		chat("users", "bob", "cat.jpg"):            rImg,
		chat("users", "bob", "cat (2).jpg"):        rOther,
		chat("groups", "1234567890", "report.pdf"): rPDF,
		chat("rooms", "room-9", "clip.mp4"):        rVideo,
		chat("users", "erin", "voice.amr"):         rAudio,
	} {
		link, err := os.Readlink(p)
		require.NoError(t, err, p)
		assert.Equal(t, "../../../files/"+want.UUID, link, p)
	}
	assert.Equal(t, sent, lstatTime(t, chat("users", "alice", "cat.jpg")))
	assert.Equal(t, sent.Add(time.Minute), lstatTime(t, chat("groups", "1234567890", "report.pdf")))
	assert.Equal(t, sent.Add(2*time.Minute), lstatTime(t, chat("rooms", "room-9", "clip.mp4")))
	assert.Equal(t, sent.Add(3*time.Minute), lstatTime(t, chat("users", "erin", "voice.amr")))
	assert.Equal(t, sent.Add(4*time.Minute), lstatTime(t, chat("users", "bob", "cat (2).jpg")))

	// Sizes from file_length, before any byte is read; then the bytes.
	downloads := svc.emu.Stats().Downloads
	for p, n := range map[string]int{
		chat("users", "alice", "cat.jpg"):          len(img),
		chat("groups", "1234567890", "report.pdf"): len(pdf),
		chat("rooms", "room-9", "clip.mp4"):        len(video),
		chat("users", "dave", "voice.amr"):         len(audio),
		chat("users", "dave", "cat.jpg"):           len(other),
	} {
		st, err := os.Stat(p)
		require.NoError(t, err, p)
		assert.Equal(t, int64(n), st.Size(), p)
	}
	assert.Equal(t, downloads, svc.emu.Stats().Downloads, "sizes need no download")
	for p, want := range map[string][]byte{
		chat("users", "alice", "cat.jpg"):          img,
		chat("groups", "1234567890", "report.pdf"): pdf,
		chat("rooms", "room-9", "clip.mp4"):        video,
		chat("users", "erin", "voice.amr"):         audio,
		chat("users", "bob", "cat (2).jpg"):        other,
		h.path("files", rVideo.UUID+".thumb"):      thumb,
	} {
		got, err := os.ReadFile(p)
		require.NoError(t, err, p)
		assert.True(t, bytes.Equal(want, got), "bytes of %s", p)
	}

	// The messages' facts as xattrs, through a chats/ link too.
	x := func(p, name string) string { t.Helper(); return getxattr(t, p, name) }
	rfc := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	for _, tc := range []struct {
		path                            string
		name, from, to, chatType, msgID string
		sent                            time.Time
		secret                          string
	}{
		{h.path("files", rImg.UUID), "cat.jpg", "alice", "bob", "chat", idImg["bob"], sent, ""},
		{chat("groups", "1234567890", "report.pdf"), "report.pdf", "alice", "1234567890", "groupchat", idPDF["1234567890"], sent.Add(time.Minute), rPDF.ShareSecret},
		{h.path("files", rVideo.UUID), "clip.mp4", "carol", "room-9", "chatroom", idVideo["room-9"], sent.Add(2 * time.Minute), ""},
		{h.path("files", rLate.UUID), "", "", "", "", "", time.Time{}, ""}, // not imported yet
	} {
		if tc.name == "" {
			_, err := getxattrErr(tc.path, "user.chatfs.msg_id")
			assert.Error(t, err, "%s is not known from a message yet", tc.path)
			continue
		}
		assert.Equal(t, tc.name, x(tc.path, "user.chatfs.name"), tc.path)
		assert.Equal(t, tc.from, x(tc.path, "user.chatfs.from"), tc.path)
		assert.Equal(t, tc.to, x(tc.path, "user.chatfs.to"), tc.path)
		assert.Equal(t, tc.chatType, x(tc.path, "user.chatfs.chat_type"), tc.path)
		assert.Equal(t, tc.msgID, x(tc.path, "user.chatfs.msg_id"), tc.path)
		assert.Equal(t, rfc(tc.sent), x(tc.path, "user.chatfs.sent"), tc.path)
		if tc.secret != "" {
			assert.Equal(t, tc.secret, x(tc.path, "user.chatfs.share_secret"), tc.path)
		}
	}
	// The audio went to two users: its facts are those of one of them.
	f := h.path("files", rAudio.UUID)
	assert.Equal(t, rAudio.ShareSecret, x(f, "user.chatfs.share_secret"), "from ?share-secret=")
	assert.Contains(t, []string{idAudio["dave"], idAudio["erin"]}, x(f, "user.chatfs.msg_id"))
	assert.Equal(t, "bob", x(f, "user.chatfs.from"))
	assert.Equal(t, rOther.ShareSecret, x(h.path("files", rOther.UUID), "user.chatfs.share_secret"))
	assert.Equal(t, "dave", x(h.path("files", rOther.UUID), "user.chatfs.from"))

	// h30 (and the other hours from top-31h to top-28h) was given up at
	// once, h1 waits: never in chats/ so far.
	eventually(t, 10*time.Second, "the first round's end", func() bool {
		v, _ := getxattrErr(chat(), "user.chatfs.history")
		return strings.Contains(v, "next attempt")
	})
	progress := getxattr(t, chat(), "user.chatfs.history")
	assert.Contains(t, progress, "1 waiting, 4 unavailable, 0 failed, 0 to do")
	key1 := remote.HourKey(h1, time.UTC)
	key30 := remote.HourKey(h30, time.UTC)
	assert.Equal(t, 1, calls.of(key30))
	assert.NotContains(t, readdirnames(t, chat("users", "bob")), "old.bin")
	assert.NotContains(t, readdirnames(t, chat("users", "bob")), "late.jpg")

	// An hour later (by the emulator's clock), h1 is made: the next look
	// finds it.
	shift := time.Hour
	svc.emu.SetNow(func() time.Time { return time.Now().Add(shift) })
	eventually(t, 20*time.Second, "the import of h1 once made", func() bool {
		_, err := os.Lstat(chat("users", "bob", "late.jpg"))
		return err == nil
	})
	assert.GreaterOrEqual(t, calls.of(key1), 2)
	assert.Equal(t, h1.Add(5*time.Minute), lstatTime(t, chat("users", "bob", "late.jpg")))
	assert.Equal(t, idLate["bob"], x(chat("users", "alice", "late.jpg"), "user.chatfs.msg_id"))
	got, err := os.ReadFile(chat("users", "alice", "late.jpg"))
	require.NoError(t, err)
	assert.Equal(t, late, got)
	eventually(t, 10*time.Second, "h1 counted done", func() bool {
		v, _ := getxattrErr(chat(), "user.chatfs.history")
		return strings.Contains(v, "0 waiting, 4 unavailable, 0 failed, 0 to do")
	})
	assert.Equal(t, 1, calls.of(key30), "an hour given up is not asked again")

	// A remount, history off, keeps everything.
	h.unmount()
	hr := newHarness(t, svc, h.state)
	chat = func(parts ...string) string { return hr.path(append([]string{"chats"}, parts...)...) }
	assert.Equal(t, []string{"cat (2).jpg", "cat.jpg", "late.jpg", "voice.amr"}, sorted(readdirnames(t, chat("users", "bob"))))
	assert.Equal(t, []string{"report.pdf"}, readdirnames(t, chat("groups", "1234567890")))
	assert.Equal(t, sent.Add(2*time.Minute), lstatTime(t, chat("rooms", "room-9", "clip.mp4")))
	assert.Equal(t, idPDF["1234567890"], getxattr(t, hr.path("files", rPDF.UUID), "user.chatfs.msg_id"))
	got, err = os.ReadFile(chat("users", "erin", "voice.amr"))
	require.NoError(t, err)
	assert.Equal(t, audio, got)
}

// Listing a chats/ folder fills the desktop's thumbnail cache for the
// images in it, under the URI of the path listed (the link under chats/).
func TestDesktopThumbnailsOfChats(t *testing.T) {
	svc := newService(t, emulator.Options{HistoryRate: -1})
	c := svc.client(t, appID)
	img := testJPEG(t, 400, 300)
	pdf := append([]byte("%PDF-1.4\n"), randomBytes(t, 2000)...)
	rImg, err := c.Upload(context.Background(), remote.UploadRequest{Name: "photo.jpg", File: bytes.NewReader(img), Size: int64(len(img))})
	require.NoError(t, err)
	rPDF, err := c.Upload(context.Background(), remote.UploadRequest{Name: "doc.pdf", File: bytes.NewReader(pdf), Size: int64(len(pdf))})
	require.NoError(t, err)
	video := append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), randomBytes(t, 5000)...)
	vthumb := testJPEG(t, 160, 90)
	rVideo, err := c.Upload(context.Background(), remote.UploadRequest{Name: "clip.mp4", File: bytes.NewReader(video), Size: int64(len(video))})
	require.NoError(t, err)
	rThumb, err := c.Upload(context.Background(), remote.UploadRequest{Name: "clip.jpg", File: bytes.NewReader(vthumb), Size: int64(len(vthumb)), Restrict: true})
	require.NoError(t, err)
	sent := time.Now().UTC().Truncate(time.Hour).Add(-3*time.Hour + 7*time.Minute)
	_, err = svc.emu.PostMessage("app-id/"+appID, emulator.Message{From: "bob", To: []string{"room-1"}, ChatType: "chatroom", Type: "video", Time: sent,
		Body: rawJSON(t, map[string]any{"url": rVideo.URL(), "filename": "clip.mp4", "file_length": len(video),
			"thumb": rThumb.URL(), "thumb_secret": rThumb.ShareSecret})})
	require.NoError(t, err)
	_, err = svc.emu.PostMessage("app-id/"+appID, emulator.Message{From: "alice", To: []string{"bob"}, Type: "img", Time: sent,
		Body: rawJSON(t, map[string]any{"url": rImg.URL(), "filename": "photo.jpg", "file_length": len(img)})})
	require.NoError(t, err)
	_, err = svc.emu.PostMessage("app-id/"+appID, emulator.Message{From: "alice", To: []string{"bob"}, Type: "file", Time: sent,
		Body: rawJSON(t, map[string]any{"url": rPDF.URL(), "filename": "doc.pdf", "file_length": len(pdf)})})
	require.NoError(t, err)

	cacheDir := filepath.Join(t.TempDir(), "xdg-cache", "thumbnails")
	h := newHarness(t, svc, "", withHistory(6*time.Hour), func(o *mount.Options, a *config.App) { o.DesktopThumbnails = cacheDir })
	dir := h.path("chats", "users", "bob")
	eventually(t, 20*time.Second, "the import", func() bool {
		_, err := os.Lstat(filepath.Join(dir, "doc.pdf"))
		return err == nil
	})
	_, err = os.ReadDir(dir)
	require.NoError(t, err)

	p := filepath.Join(dir, "photo.jpg")
	file := filepath.Join(cacheDir, "normal", thumbs.Name(thumbs.URI(p)))
	eventually(t, 15*time.Second, "thumbnail of "+p, func() bool {
		_, err := os.Stat(file)
		return err == nil
	})
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	require.NoError(t, err)
	assert.Equal(t, [2]int{128, 96}, [2]int{cfg.Width, cfg.Height})
	text, err := thumbs.ReadText(file)
	require.NoError(t, err)
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(p, &st)) // follows the link, as file managers do
	assert.Equal(t, thumbs.URI(p), text[thumbs.KeyURI])
	assert.Equal(t, strconv.FormatInt(st.Mtim.Sec, 10), text[thumbs.KeyMTime])

	// A video's thumbnail (the message's thumb) for the video in a room.
	room := h.path("chats", "rooms", "room-1")
	_, err = os.ReadDir(room)
	require.NoError(t, err)
	vfile := filepath.Join(cacheDir, "normal", thumbs.Name(thumbs.URI(filepath.Join(room, "clip.mp4"))))
	eventually(t, 15*time.Second, "thumbnail of the video", func() bool {
		_, err := os.Stat(vfile)
		return err == nil
	})
	b, err = os.ReadFile(vfile)
	require.NoError(t, err)
	cfg, err = png.DecodeConfig(bytes.NewReader(b))
	require.NoError(t, err)
	assert.Equal(t, [2]int{128, 72}, [2]int{cfg.Width, cfg.Height}, "the 160×90 thumb, scaled to 128")

	// No thumbnail for the PDF, and never a whole download.
	_, err = os.Stat(filepath.Join(cacheDir, "normal", thumbs.Name(thumbs.URI(filepath.Join(dir, "doc.pdf")))))
	assert.True(t, os.IsNotExist(err))
	assert.Zero(t, svc.emu.DownloadCount(rImg.UUID))
	assert.Zero(t, svc.emu.DownloadCount(rPDF.UUID))
	assert.Zero(t, svc.emu.DownloadCount(rVideo.UUID))
}

// An Agora Chat / Easemob app ({org}/{app} URLs) on a China cluster (hours
// named in UTC+8): the same import, against the real emulator, through the
// org/app history path and the UTC+8 hour names.
func TestChatsFromTheEmulatorsHistoryOrgAppUTC8(t *testing.T) {
	cst, err := emulator.ParseHistoryTZ("UTC+8")
	require.NoError(t, err)
	svc := newService(t, emulator.Options{HistoryTZ: cst, HistoryRate: -1})
	calls := map[string]int{}
	var mu sync.Mutex
	hook := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if hour, ok := strings.CutPrefix(r.URL.Path, "/acme/chat/chatmessages/"); ok {
			mu.Lock()
			calls[hour]++
			mu.Unlock()
		}
		return false
	}
	svc.hook.Store(&hook)
	c, err := remote.New(remote.Options{
		Endpoint:  remote.Endpoint{BaseURL: svc.url, Org: "acme", App: "chat"},
		Tokens:    remote.NewStaticToken(svc.emu.Token()),
		RateLimit: -1,
	})
	require.NoError(t, err)
	data := testJPEG(t, 120, 80)
	res, err := c.Upload(context.Background(), remote.UploadRequest{Name: "site.jpg", File: bytes.NewReader(data), Size: int64(len(data)), Restrict: true})
	require.NoError(t, err)
	sent := time.Now().UTC().Truncate(time.Hour).Add(-3*time.Hour + 42*time.Minute)
	_, err = svc.emu.PostMessage("acme/chat", emulator.Message{From: "li", To: []string{"wang"}, Type: "img", Time: sent,
		Body: rawJSON(t, map[string]any{"url": res.URL(), "filename": "site.jpg", "secret": res.ShareSecret, "file_length": len(data)})})
	require.NoError(t, err)

	h := newHarness(t, svc, "", withHistory(6*time.Hour), func(o *mount.Options, a *config.App) {
		a.AppID, a.Org, a.AppName, a.HistoryTZ = "", "acme", "chat", "UTC+8"
	})
	p := h.path("chats", "users", "wang", "site.jpg")
	eventually(t, 20*time.Second, "the import", func() bool {
		_, err := os.Lstat(p)
		return err == nil
	})
	assert.Equal(t, sent, lstatTime(t, p))
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, data, got)
	assert.Equal(t, res.ShareSecret, getxattr(t, h.path("files", res.UUID), "user.chatfs.share_secret"))
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 1, calls[sent.In(cst).Format("2006010215")], "the hour asked by its UTC+8 name: %v", calls)
}

// A file whose server copy expired leaves chats/ as it leaves files/, and
// stays gone after a remount.
func TestChatsExpiredFilesLeave(t *testing.T) {
	svc := newService(t, emulator.Options{TTL: time.Hour, HistoryRate: -1})
	c := svc.client(t, appID)
	a, b := randomBytes(t, 3000), randomBytes(t, 4000)
	upAt := time.Now()
	var ra, rb remote.UploadResult
	svc.at(upAt.Add(-30*time.Minute), func() { // expires 30 min from now
		var err error
		ra, err = c.Upload(context.Background(), remote.UploadRequest{Name: "a.bin", File: bytes.NewReader(a), Size: int64(len(a))})
		require.NoError(t, err)
	})
	rb, err := c.Upload(context.Background(), remote.UploadRequest{Name: "b.bin", File: bytes.NewReader(b), Size: int64(len(b))})
	require.NoError(t, err)
	sent := upAt.UTC().Truncate(time.Hour).Add(-2*time.Hour + 5*time.Minute)
	for _, r := range []remote.UploadResult{ra, rb} {
		_, err := svc.emu.PostMessage("app-id/"+appID, emulator.Message{From: "alice", To: []string{"bob"}, Type: "file", Time: sent,
			Body: rawJSON(t, map[string]any{"url": r.URL(), "filename": filepath.Base(r.UUID) + ".bin"})})
		require.NoError(t, err)
	}
	state := t.TempDir()
	h := newHarness(t, svc, state, withHistory(4*time.Hour))
	dir := h.path("chats", "users", "bob")
	eventually(t, 20*time.Second, "the import", func() bool { return len(readdirnames(t, dir)) == 2 })

	// 45 minutes later by the server's clock, a.bin is gone there.
	svc.emu.SetNow(func() time.Time { return time.Now().Add(45 * time.Minute) })
	_, err = os.ReadFile(filepath.Join(dir, ra.UUID+".bin"))
	require.Error(t, err)
	assert.True(t, errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EIO), "%v", err)
	assert.Equal(t, []string{rb.UUID + ".bin"}, readdirnames(t, dir), "the expired file left chats/")
	assert.NotContains(t, readdirnames(t, h.path("files")), ra.UUID)

	// A remount, importing again: a.bin stays gone.
	h.unmount()
	h2 := newHarness(t, svc, state, withHistory(4*time.Hour))
	eventually(t, 10*time.Second, "the round's end", func() bool {
		v, _ := getxattrErr(h2.path("chats"), "user.chatfs.history")
		return strings.Contains(v, "next attempt")
	})
	assert.Equal(t, []string{rb.UUID + ".bin"}, readdirnames(t, h2.path("chats", "users", "bob")))
	got, err := os.ReadFile(h2.path("chats", "users", "bob", rb.UUID+".bin"))
	require.NoError(t, err)
	assert.Equal(t, b, got)
}

// kill -9 of a mount in the middle of a history import: the next mount
// finishes it, and every attachment shows once, with no duplicate names.
func TestChatsImportKilledResumes(t *testing.T) {
	requireFUSE(t)
	svc := newService(t, emulator.Options{HistoryRate: -1})
	const perHour = 2500
	top := time.Now().UTC().Truncate(time.Hour)
	var ms []emulator.Message
	for h := 2; h <= 3; h++ {
		for i := 0; i < perHour; i++ {
			id := fmt.Sprintf("%08x-0000-4000-8000-%012x", h, i)
			ms = append(ms, emulator.Message{From: "alice", To: []string{"bob"}, Type: "file",
				Time: top.Add(-time.Duration(h)*time.Hour + time.Duration(i)*time.Millisecond),
				Body: rawJSON(t, map[string]any{"url": svc.url + "/app-id/" + appID + "/chatfiles/" + id,
					"filename": fmt.Sprintf("h%d-%05d.txt", h, i), "file_length": i})})
		}
	}
	_, err := svc.emu.PostMessages("app-id/"+appID, ms)
	require.NoError(t, err)

	state, mnt := t.TempDir(), t.TempDir()
	t.Setenv(envChildHistory, "4h")
	child := startChild(t, mnt, state, svc.url, svc.emu.Token())
	bob := filepath.Join(mnt, appID, "chats", "users", "bob")
	var seen int
	eventually(t, 30*time.Second, "part of the import", func() bool {
		seen = len(readdirnames(t, bob))
		return seen > 0
	})
	require.NoError(t, child.Process.Signal(syscall.SIGKILL))
	_, _ = child.Process.Wait()
	lazyUnmount(mnt)
	t.Logf("killed with %d of %d attachments shown", seen, 2*perHour)

	h := newHarness(t, svc, state, withHistory(4*time.Hour))
	dir := h.path("chats", "users", "bob")
	eventually(t, 60*time.Second, "the rest of the import", func() bool {
		return len(readdirnames(t, dir)) >= 2*perHour
	})
	names := readdirnames(t, dir)
	assert.Len(t, names, 2*perHour, "each attachment once")
	for _, n := range names {
		if strings.Contains(n, " (") {
			t.Fatalf("a duplicate: %s", n)
		}
	}
	st, err := os.Lstat(filepath.Join(dir, "h3-00042.txt"))
	require.NoError(t, err)
	assert.Equal(t, top.Add(-3*time.Hour+42*time.Millisecond), st.ModTime().UTC())
}
