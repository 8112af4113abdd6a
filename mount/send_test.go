//go:build linux

package mount_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote/emulator"
)

// chatLayer stands in front of the emulator's message layer: it counts
// uploads, can refuse a target's messages as the service refuses a
// message (400 message_send_error), and can hold message calls, before
// the emulator sees them or after it has stored them (an answer lost on
// the way). What was sent is read back from the emulator's history.
type chatLayer struct {
	emu *emulator.Server

	mu      sync.Mutex
	uploads int               // POST chatfiles seen. GUARDED_BY(mu)
	refuse  map[string]string // target -> description of a 400 message_send_error. GUARDED_BY(mu)
	hold    chan struct{}     // when set, message calls wait for it to close (or the caller to go). GUARDED_BY(mu)
	// acceptHeld: a held call is passed to the emulator (stored) before
	// it waits, as a service that took the message but whose answer never
	// arrived.
	acceptHeld bool // GUARDED_BY(mu)
	held       int  // calls waiting on hold. GUARDED_BY(mu)
}

// sentMsg is one message as the emulator's history holds it.
type sentMsg struct {
	Kind string // users, chatgroups, chatrooms
	From string
	To   []string
	Type string
	Body map[string]any
	ID   string
}

func newChatLayer(svc *service) *chatLayer {
	c := &chatLayer{emu: svc.emu, refuse: map[string]string{}}
	hook := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/chatfiles") {
			c.mu.Lock()
			c.uploads++
			c.mu.Unlock()
			return false
		}
		if !strings.Contains(r.URL.Path, "/messages/") {
			return false
		}
		c.serve(w, r, next)
		return true
	}
	svc.hook.Store(&hook)
	return c
}

func (c *chatLayer) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	data, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	again := func() *http.Request {
		r2 := r.Clone(r.Context())
		r2.Body = io.NopCloser(bytes.NewReader(data))
		return r2
	}
	var m struct {
		To []string `json:"to"`
	}
	_ = json.Unmarshal(data, &m)
	c.mu.Lock()
	for _, to := range m.To {
		if desc, ok := c.refuse[to]; ok {
			c.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": "message_send_error", "exception": "MessageSendException",
				"timestamp": time.Now().UnixMilli(), "duration": 0, "error_description": desc})
			return
		}
	}
	hold, accept := c.hold, c.acceptHeld
	if hold != nil {
		c.held++
	}
	c.mu.Unlock()
	if hold != nil {
		if accept {
			next.ServeHTTP(httptest.NewRecorder(), again())
		}
		select {
		case <-hold:
		case <-r.Context().Done():
		}
		c.mu.Lock()
		c.held--
		c.mu.Unlock()
		if accept || r.Context().Err() != nil {
			return // the answer is lost (or the caller gone)
		}
	}
	next.ServeHTTP(w, again())
}

// messages reads the messages the emulator stored, oldest first.
func (c *chatLayer) messages(t *testing.T) []sentMsg {
	t.Helper()
	recs, err := c.emu.Messages("app-id/" + appID)
	require.NoError(t, err)
	kinds := map[string]string{"chat": "users", "groupchat": "chatgroups", "chatroom": "chatrooms"}
	var out []sentMsg
	for _, rec := range recs {
		require.Len(t, rec.Payload.Bodies, 1)
		var body map[string]any
		require.NoError(t, json.Unmarshal(rec.Payload.Bodies[0], &body))
		typ, _ := body["type"].(string)
		delete(body, "type")
		out = append(out, sentMsg{Kind: kinds[rec.ChatType], From: rec.From, To: []string{rec.To}, Type: typ, Body: body, ID: rec.MsgID})
	}
	return out
}

func (c *chatLayer) counts(t *testing.T) (uploads, msgs, held int) {
	n := len(c.messages(t))
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.uploads, n, c.held
}

var (
	wavBytes = append([]byte("RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x44\xac\x00\x00\x88\x58\x01\x00\x02\x00\x10\x00data"), make([]byte, 2048)...)
	pdfBytes = []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
	mp4Bytes = append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), make([]byte, 4096)...)
)

// waitSent waits until by-name/<name> exists and send/<rel> is gone, and
// returns the file's uuid.
func (h *harness) waitSent(rel string) string {
	h.t.Helper()
	uuid := h.waitUploaded(filepath.Base(rel))
	eventually(h.t, 15*time.Second, "send/"+rel+" gone", func() bool {
		_, err := os.Lstat(h.path("send", rel))
		return os.IsNotExist(err)
	})
	return uuid
}

// TestSendDropArrives: files dropped into each kind of conversation folder
// arrive as the right message type with the body the service documents,
// leave send/, and show in by-name/ and files/ with their message id.
func TestSendDropArrives(t *testing.T) {
	for _, restrict := range []bool{false, true} {
		t.Run(map[bool]string{false: "open", true: "restricted"}[restrict], func(t *testing.T) {
			svc := newService(t, emulator.Options{})
			chat := newChatLayer(svc)
			h := newHarness(t, svc, "", func(o *mount.Options, a *config.App) { a.Restrict = restrict; a.SendAs = "support" })

			photo := testJPEG(t, 64, 48)
			files := map[string][]byte{
				"users/alice/photo.jpg":           photo,
				"groups/66021836783617/voice.wav": wavBytes,
				"rooms/1234/report.pdf":           pdfBytes,
			}
			for rel, data := range files {
				require.NoError(t, os.WriteFile(h.path("send", rel), data, 0o644), rel) // the folder is there on lookup
			}
			// A video and its thumbnail: the video is held open while the
			// thumbnail is written, as a copy of both would.
			video, err := os.Create(h.path("send", "users", "bob", "clip.mp4"))
			require.NoError(t, err)
			thumb := testJPEG(t, 32, 18)
			require.NoError(t, os.WriteFile(h.path("send", "users", "bob", "clip.mp4.thumb.jpg"), thumb, 0o644))
			_, err = video.Write(mp4Bytes)
			require.NoError(t, err)
			require.NoError(t, video.Close())
			files["users/bob/clip.mp4"] = mp4Bytes

			uuids := map[string]string{}
			for rel := range files {
				uuids[rel] = h.waitSent(rel)
			}
			thumbUUID := h.waitSent("users/bob/clip.mp4.thumb.jpg")

			msgs := chat.messages(t)
			require.Len(t, msgs, 4, "one message a file, none for the thumbnail: %+v", msgs)
			byName := map[string]sentMsg{}
			for _, m := range msgs {
				byName[m.Body["filename"].(string)] = m
			}
			want := map[string][2]string{ // rel -> kind, type
				"users/alice/photo.jpg":           {"users", "img"},
				"groups/66021836783617/voice.wav": {"chatgroups", "audio"},
				"rooms/1234/report.pdf":           {"chatrooms", "file"},
				"users/bob/clip.mp4":              {"users", "video"},
			}
			for rel, w := range want {
				name := filepath.Base(rel)
				m, ok := byName[name]
				require.True(t, ok, rel)
				fp := h.path("files", uuids[rel])
				assert.Equal(t, w[0], m.Kind, rel)
				assert.Equal(t, w[1], m.Type, rel)
				assert.Equal(t, "support", m.From)
				assert.Equal(t, []string{filepath.Base(filepath.Dir(rel))}, m.To)
				assert.Equal(t, getxattr(t, fp, "user.chatfs.url"), m.Body["url"], rel)
				assert.True(t, strings.HasSuffix(m.Body["url"].(string), "/chatfiles/"+uuids[rel]), rel)
				assert.EqualValues(t, len(files[rel]), m.Body["file_length"], rel)
				assert.Equal(t, m.ID, getxattr(t, fp, "user.chatfs.msg_id"), rel)
				// At once in its conversation's folder of chats/.
				chat := filepath.Join("chats", map[string]string{"users": "users", "chatgroups": "groups", "chatrooms": "rooms"}[m.Kind], m.To[0], name)
				link, err := os.Readlink(h.path(strings.Split(chat, "/")...))
				require.NoError(t, err, chat)
				assert.Equal(t, "../../../files/"+uuids[rel], link, chat)
				got, err := os.ReadFile(h.path("by-name", name))
				require.NoError(t, err)
				assert.Equal(t, files[rel], got, rel)
				if restrict {
					assert.Equal(t, getxattr(t, fp, "user.chatfs.share_secret"), m.Body["secret"], rel)
				} else {
					assert.NotContains(t, m.Body, "secret", rel)
				}
			}
			assert.Equal(t, map[string]any{"width": 64.0, "height": 48.0}, byName["photo.jpg"].Body["size"])
			clip := byName["clip.mp4"].Body
			assert.True(t, strings.HasSuffix(clip["thumb"].(string), "/chatfiles/"+thumbUUID), "thumb %v", clip["thumb"])
			if restrict {
				assert.NotEmpty(t, clip["thumb_secret"])
			}
			got, err := os.ReadFile(h.path("files", uuids["users/bob/clip.mp4"]+".thumb"))
			require.NoError(t, err)
			assert.Equal(t, thumb, got, "the video's .thumb is its thumbnail sibling")
			uploads, _, _ := chat.counts(t)
			assert.Equal(t, 5, uploads, "each file uploaded once")
			// Nothing waits: users/ lists the conversations chats/ now
			// knows (both ends of each one-to-one chat), and no other.
			users := readdirnames(t, h.path("send", "users"))
			sort.Strings(users)
			assert.Equal(t, []string{"alice", "bob", "support"}, users)
			assert.Equal(t, []string{"1234"}, readdirnames(t, h.path("send", "rooms")))
		})
	}
}

// TestSendLayout: send/ holds users/, groups/ and rooms/; any well-formed
// name in them is a folder, malformed names are not; files go only into a
// conversation's folder; a listing shows the conversations with files
// waiting; a send the service refuses stays, failed with its reason.
func TestSendLayout(t *testing.T) {
	svc := newService(t, emulator.Options{})
	chat := newChatLayer(svc)
	chat.refuse["carol"] = "message is too large"
	h := newHarness(t, svc, "")

	names := readdirnames(t, h.path("send"))
	sort.Strings(names)
	assert.Equal(t, []string{"groups", "rooms", "users"}, names)

	for _, p := range []string{"users/alice", "users/a.b-c_D9", "groups/66021836783617", "rooms/1234", "users/" + strings.Repeat("x", 64)} {
		fi, err := os.Stat(h.path("send", p))
		require.NoError(t, err, p)
		assert.True(t, fi.IsDir(), p)
	}
	for _, p := range []string{"users/has space", "users/" + strings.Repeat("x", 65), "users/ünï", "friends"} {
		_, err := os.Stat(h.path("send", p))
		assert.ErrorIs(t, err, syscall.ENOENT, p)
	}
	errnoOf := func(err error) syscall.Errno {
		var en syscall.Errno
		errors.As(err, &en)
		return en
	}
	assert.Equal(t, syscall.EINVAL, errnoOf(os.Mkdir(h.path("send", "users", "has space"), 0o755)))
	assert.Equal(t, syscall.EPERM, errnoOf(os.Mkdir(h.path("send", "users", "alice", "sub"), 0o755)), "one folder, one conversation")
	assert.Equal(t, syscall.EPERM, errnoOf(os.Mkdir(h.path("send", "friends"), 0o755)))
	// Files only in a conversation's folder: a file name that is also a
	// well-formed user name is that user's folder.
	assert.Equal(t, syscall.EPERM, errnoOf(os.WriteFile(h.path("send", "users", "stray file.pdf"), pdfBytes, 0o644)))
	assert.Equal(t, syscall.EISDIR, errnoOf(os.WriteFile(h.path("send", "users", "stray.pdf"), pdfBytes, 0o644)))
	assert.Equal(t, syscall.EPERM, errnoOf(os.WriteFile(h.path("send", "stray.pdf"), pdfBytes, 0o644)))
	assert.Equal(t, syscall.EPERM, errnoOf(syscall.Rmdir(h.path("send", "users"))))
	require.NoError(t, os.MkdirAll(h.path("send", "users", "dave"), 0o755), "mkdir -p of a conversation")
	assert.Equal(t, syscall.EINVAL, errnoOf(os.Rename(h.path("send", "users", "dave"), h.path("send", "users", "da ve"))))
	assert.Equal(t, syscall.EPERM, errnoOf(os.Rename(h.path("send", "users", "dave"), h.path("send", "users", "alice", "dave"))))
	assert.Equal(t, syscall.EPERM, errnoOf(os.Rename(h.path("send", "users"), h.path("send", "people"))))
	assert.Equal(t, syscall.EPERM, errnoOf(os.Symlink("x", h.path("send", "users", "dave", "link"))))
	require.NoError(t, os.WriteFile(h.path("upload", "x"), pdfBytes, 0o644))
	assert.Equal(t, syscall.EXDEV, errnoOf(os.Rename(h.path("upload", "x"), h.path("send", "users", "dave", "x"))), "send/ and upload/ are apart")

	// Refused by the service: failed with its reason, still in send/.
	p := h.path("send", "users", "carol", "huge.pdf")
	require.NoError(t, os.WriteFile(p, pdfBytes, 0o644))
	eventually(t, 15*time.Second, "refused send failed", func() bool {
		v, _ := getxattrErr(p, "user.chatfs.state")
		return v == "failed"
	})
	assert.Contains(t, getxattr(t, p, "user.chatfs.error"), "message is too large")
	assert.Equal(t, []string{"carol"}, readdirnames(t, h.path("send", "users")), "only conversations with files waiting are listed")
	assert.Empty(t, chat.messages(t))

	// Moved to another conversation and touched (a failed file stays
	// failed until then), it is sent there.
	require.NoError(t, os.Rename(p, h.path("send", "users", "erin", "huge.pdf")))
	now := time.Now()
	require.NoError(t, os.Chtimes(h.path("send", "users", "erin", "huge.pdf"), now, now))
	h.waitSent("users/erin/huge.pdf")
	msgs := chat.messages(t)
	require.Len(t, msgs, 1)
	assert.Equal(t, []string{"erin"}, msgs[0].To)
}

// TestSendKill9BetweenUploadAndSend: a mount killed with -9 while a
// message is on its way loses nothing: the next mount sends the recorded
// upload without uploading again. Killed after the service accepted the
// message but before its id was recorded, the message goes twice: the one
// documented repeat window, counted here.
func TestSendKill9BetweenUploadAndSend(t *testing.T) {
	requireFUSE(t)
	for _, accepted := range []bool{false, true} {
		t.Run(map[bool]string{false: "not accepted", true: "accepted, answer lost"}[accepted], func(t *testing.T) {
			svc := newService(t, emulator.Options{})
			chat := newChatLayer(svc)
			hold := make(chan struct{})
			chat.mu.Lock()
			chat.hold, chat.acceptHeld = hold, accepted
			chat.mu.Unlock()
			state, mnt := t.TempDir(), t.TempDir()
			child := startChild(t, mnt, state, svc.url, svc.emu.Token())

			p := filepath.Join(mnt, appID, "send", "users", "alice", "report.pdf")
			require.NoError(t, os.WriteFile(p, pdfBytes, 0o644)) // close returned: durable
			eventually(t, 15*time.Second, "sending", func() bool {
				_, _, held := chat.counts(t)
				return held == 1
			})
			v, err := getxattrErr(p, "user.chatfs.state")
			require.NoError(t, err)
			assert.Equal(t, "sending", v)
			require.NoError(t, child.Process.Kill())
			_ = child.Wait()
			lazyUnmount(mnt)

			chat.mu.Lock()
			chat.hold = nil
			chat.mu.Unlock()
			close(hold)
			h := newHarness(t, svc, state)
			uuid := h.waitSent("users/alice/report.pdf")
			uploads, msgs, _ := chat.counts(t)
			assert.Equal(t, 1, uploads, "never uploaded again")
			want := 1
			if accepted {
				want = 2
			}
			assert.Equal(t, want, msgs, "sent %d times", msgs)
			all := chat.messages(t)
			assert.Equal(t, all[len(all)-1].ID, getxattr(t, h.path("files", uuid), "user.chatfs.msg_id"))
			got, err := os.ReadFile(h.path("files", uuid))
			require.NoError(t, err)
			assert.Equal(t, pdfBytes, got)
		})
	}
}
