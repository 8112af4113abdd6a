package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"path"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote"
)

// startSendEnv builds and starts an app whose send/ outbox the env's
// helpers (write, open, close, ...) act on.
func startSendEnv(t *testing.T, fr *fakeRemote, edit func(*core.Options)) *env {
	t.Helper()
	e := newEnv(t, fr, func(o *core.Options) {
		o.SendDir = filepath.Join(t.TempDir(), "send")
		if edit != nil {
			edit(o)
		}
	})
	e.send = true
	e.ob = e.app.Sendbox()
	e.start()
	return e
}

// sentRecord waits until the file staged at rel is sent, recorded and out
// of send/ and its queue, and returns its record.
func (e *env) sentRecord(rel string) index.File {
	e.t.Helper()
	var f index.File
	e.waitFor(func() bool {
		if e.exists(rel) {
			return false
		}
		if _, err := e.idx.GetUpload(index.SendQueue(testApp), rel); !errors.Is(err, index.ErrNotFound) {
			return false
		}
		found := false
		_ = e.idx.List(testApp, func(r index.File) error {
			if r.Msg != nil && r.Msg.To == path.Base(path.Dir(rel)) && r.Name == path.Base(rel) {
				f, found = r, true
			}
			return nil
		})
		return found
	}, "send of %q", rel)
	return f
}

// state is rel's state in send/.
func (e *env) state(rel string) (core.UploadState, string) {
	st, why, _ := e.ob.State(rel)
	return st, why
}

func pngOf(w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewRGBA(image.Rect(0, 0, w, h))); err != nil {
		panic(err)
	}
	return b.Bytes()
}

var (
	wavBytes = append([]byte("RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x44\xac\x00\x00\x88\x58\x01\x00\x02\x00\x10\x00data"), make([]byte, 64)...)
	pdfBytes = []byte("%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
)

// Each kind of file is sent as its message type, with the body the
// service documents, to the conversation its folder names; it then leaves
// send/ and is recorded with its message id.
func TestSendTypesAndBodies(t *testing.T) {
	t.Parallel()
	for _, restrict := range []bool{false, true} {
		t.Run(map[bool]string{false: "open", true: "restricted"}[restrict], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fr := newFakeRemote()
				e := startSendEnv(t, fr, func(o *core.Options) { o.Restrict = restrict; o.SendAs = "ops" })
				img := pngOf(40, 30)
				e.write("users/alice/cat.png", img)
				e.write("groups/66021836783617/voice.wav", wavBytes)
				e.write("rooms/1234/report.pdf", pdfBytes)
				// A PNG named .pdf is an image: the content decides.
				e.write("users/alice/scan.pdf", pngOf(8, 9))
				// A video with its thumbnail sibling: the thumbnail goes
				// first and is not sent on its own.
				e.write("users/bob/clip.mp4", mp4Bytes)
				e.write("users/bob/clip.mp4.thumb.jpg", jpegBytes)

				want := map[string]struct {
					kind remote.ChatKind
					typ  string
				}{
					"users/alice/cat.png":             {remote.ToUsers, remote.MsgImage},
					"groups/66021836783617/voice.wav": {remote.ToGroups, remote.MsgAudio},
					"rooms/1234/report.pdf":           {remote.ToRooms, remote.MsgFile},
					"users/alice/scan.pdf":            {remote.ToUsers, remote.MsgImage},
					"users/bob/clip.mp4":              {remote.ToUsers, remote.MsgVideo},
				}
				recs := map[string]index.File{}
				for rel := range want {
					recs[rel] = e.sentRecord(rel)
				}
				waitFor(t, func() bool { return !e.exists("users/bob/clip.mp4.thumb.jpg") }, "thumbnail uploaded")
				msgs := fr.accepted()
				require.Len(t, msgs, len(want), "one message a file, none for the thumbnail")
				assert.Len(t, fr.calls(), len(want)+1, "each file uploaded once")
				byName := map[string]message{}
				for _, m := range msgs {
					byName[m.Msg.Body.Filename] = m
				}
				for rel, w := range want {
					f := recs[rel]
					m, ok := byName[path.Base(rel)]
					require.True(t, ok, rel)
					assert.Equal(t, w.kind, m.Kind, rel)
					assert.Equal(t, w.typ, m.Msg.Type, rel)
					assert.Equal(t, "ops", m.Msg.From)
					assert.Equal(t, []string{path.Base(path.Dir(rel))}, m.Msg.To)
					assert.Equal(t, f.URL, m.Msg.Body.URL)
					assert.Equal(t, "https://chat.example/org/app/chatfiles/"+f.UUID, m.Msg.Body.URL)
					assert.Equal(t, f.Size, m.Msg.Body.FileLength)
					if restrict {
						assert.NotEmpty(t, m.Msg.Body.Secret, rel)
						assert.Equal(t, f.ShareSecret, m.Msg.Body.Secret)
					} else {
						assert.Empty(t, m.Msg.Body.Secret, rel)
					}
					require.NotNil(t, f.Msg, rel)
					assert.Equal(t, m.ID, f.Msg.MsgID)
					assert.Equal(t, map[remote.ChatKind]string{remote.ToUsers: "chat", remote.ToGroups: "groupchat", remote.ToRooms: "chatroom"}[w.kind], f.Msg.ChatType)
					assert.Equal(t, "ops", f.Msg.From)
					assert.True(t, f.Msg.Sent.Equal(uploadTime.Add(time.Minute)))
					if w.typ != remote.MsgImage {
						assert.Nil(t, m.Msg.Body.Size, rel)
					}
				}
				assert.Equal(t, &remote.ImageSize{Width: 40, Height: 30}, byName["cat.png"].Msg.Body.Size)
				assert.Equal(t, &remote.ImageSize{Width: 8, Height: 9}, byName["scan.pdf"].Msg.Body.Size)
				clip := byName["clip.mp4"].Msg.Body
				video := recs["users/bob/clip.mp4"]
				require.NotEmpty(t, video.ThumbUUID)
				assert.Equal(t, "https://chat.example/org/app/chatfiles/"+video.ThumbUUID, clip.Thumb)
				assert.Equal(t, video.ThumbSecret, clip.ThumbSecret)
				if restrict {
					assert.NotEmpty(t, clip.ThumbSecret)
				}
				assert.Equal(t, img, e.cached(recs["users/alice/cat.png"].UUID), "the sent bytes moved to the cache")
			})
		})
	}
}

// A message the service refuses (400) leaves the file failed with the
// service's reason, uploaded once and sent once; a file outside a target
// folder is never uploaded.
func TestSendRefused(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		fr.onSend = func(ctx context.Context, n int, kind remote.ChatKind, msg remote.Message) error {
			return &remote.Error{Op: "send to users", Status: 400, Code: remote.CodeMessageSendError, Description: "message is too large"}
		}
		e := startSendEnv(t, fr, nil)
		e.write("users/bob/big.pdf", pdfBytes)
		e.write("users/stray.pdf", pdfBytes)
		e.waitFor(func() bool {
			a, _ := e.state("users/bob/big.pdf")
			b, _ := e.state("users/stray.pdf")
			return a == core.StateFailed && b == core.StateFailed
		}, "failed")
		_, why := e.state("users/bob/big.pdf")
		assert.Contains(t, why, "message is too large")
		assert.Contains(t, why, "sending the message")
		_, why = e.state("users/stray.pdf")
		assert.Contains(t, why, "not in a conversation's folder")
		quietFor(t, fr, time.Hour, 1)
		assert.Equal(t, 1, fr.sends, "not retried")
		assert.True(t, e.exists("users/bob/big.pdf"), "a failed file stays in send/")
	})
}

// A send refused for the rate (403 message_send_error, 429) is retried
// later without uploading again; the file shows "sending" meanwhile.
func TestSendRetriedWithoutUploadingAgain(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		fr.onSend = func(ctx context.Context, n int, kind remote.ChatKind, msg remote.Message) error {
			if n <= 2 {
				return &remote.Error{Op: "send to users", Status: 403, Code: remote.CodeMessageSendError, Description: "message send reach limit"}
			}
			return nil
		}
		e := startSendEnv(t, fr, nil)
		e.write("users/bob/a.pdf", pdfBytes)
		f := e.sentRecord("users/bob/a.pdf")
		assert.Len(t, fr.calls(), 1, "uploaded once")
		assert.Equal(t, 3, fr.sends)
		assert.Len(t, fr.accepted(), 1)
		assert.NotEmpty(t, f.Msg.MsgID)
	})
}

// Stopped between upload and send (here: while the message is being
// sent, before the service answered), the next start only sends; a stop
// after the service accepted but before the id was recorded sends again:
// the one repeat window.
func TestSendResumesAfterStop(t *testing.T) {
	t.Parallel()
	for _, accepted := range []bool{false, true} {
		t.Run(map[bool]string{false: "before accepted", true: "after accepted"}[accepted], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fr := newFakeRemote()
				g := newGate()
				fr.onSend = func(ctx context.Context, n int, kind remote.ChatKind, msg remote.Message) error {
					if n > 1 {
						return nil
					}
					if accepted {
						fr.mu.Lock()
						fr.messages = append(fr.messages, message{kind, msg, "lost"})
						fr.mu.Unlock()
					}
					return g.wait(ctx)
				}
				e := startSendEnv(t, fr, nil)
				e.write("users/bob/a.pdf", pdfBytes)
				e.waitFor(func() bool { st, _ := e.state("users/bob/a.pdf"); return st == core.StateSending }, "sending")
				e.app.Close(0)

				e.restart()
				e.start()
				f := e.sentRecord("users/bob/a.pdf")
				assert.Len(t, fr.calls(), 1, "never uploaded again")
				assert.Equal(t, 2, fr.sends)
				want := 1
				if accepted {
					want = 2 // the window: accepted, id not recorded
				}
				assert.Len(t, fr.accepted(), want)
				assert.Equal(t, fr.accepted()[want-1].ID, f.Msg.MsgID)
			})
		})
	}
}

// The sender must be a well-formed user name.
func TestSendAsChecked(t *testing.T) {
	fr := newFakeRemote()
	e := newEnv(t, fr, nil)
	o := e.opts
	o.SendAs = "no spaces"
	_, err := core.New(o)
	assert.ErrorContains(t, err, "not a well-formed user name")
	assert.True(t, core.ValidTarget("alice.b-c_9"))
	assert.False(t, core.ValidTarget("a/b"))
}

// A writer that opens a file while its message is being sent, and changes
// nothing, stops that send; the file is then sent again, not uploaded
// again. A change uploads it anew.
func TestSendOpenedWhileSendingIsNotUploadedAgain(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		g := newGate()
		fr.onSend = func(ctx context.Context, n int, kind remote.ChatKind, msg remote.Message) error {
			if n == 1 {
				return g.wait(ctx)
			}
			return nil
		}
		e := startSendEnv(t, fr, nil)
		e.write("users/bob/a.pdf", pdfBytes)
		e.waitFor(func() bool { st, _ := e.state("users/bob/a.pdf"); return st == core.StateSending }, "sending")
		id := e.ob.Opened("users/bob/a.pdf")
		e.ob.Closed(id)
		f := e.sentRecord("users/bob/a.pdf")
		assert.Len(t, fr.calls(), 1, "not uploaded again")
		assert.Equal(t, 2, fr.sends)
		assert.Equal(t, pdfBytes, e.cached(f.UUID))

		// Changed while it waits to be sent again: uploaded anew.
		fr.onSend = func(ctx context.Context, n int, kind remote.ChatKind, msg remote.Message) error {
			if n == 3 {
				return &remote.Error{Op: "send", Status: 429, Code: remote.CodeReachLimit}
			}
			return nil
		}
		e.write("users/bob/b.pdf", pdfBytes)
		e.waitFor(func() bool { _, why := e.state("users/bob/b.pdf"); return why != "" }, "b waits to be sent again")
		e.write("users/bob/b.pdf", append([]byte(nil), append(pdfBytes, '\n')...))
		e.sentRecord("users/bob/b.pdf")
		assert.Len(t, fr.calls(), 3, "b uploaded twice: once as it was, once changed")
		last := fr.accepted()[len(fr.accepted())-1]
		assert.EqualValues(t, len(pdfBytes)+1, last.Msg.Body.FileLength)
	})
}

// A 200 whose answer cannot be read may mean the message went: the file
// is failed, saying so, and not sent again on its own.
func TestSendMalformedAnswerIsNotRepeated(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		fr.onSend = func(ctx context.Context, n int, kind remote.ChatKind, msg remote.Message) error {
			return fmt.Errorf("remote: send to users: %w: no message id for %q", remote.ErrMalformedAnswer, "bob")
		}
		e := startSendEnv(t, fr, nil)
		e.write("users/bob/a.pdf", pdfBytes)
		e.waitFor(func() bool { st, _ := e.state("users/bob/a.pdf"); return st == core.StateFailed }, "failed")
		_, why := e.state("users/bob/a.pdf")
		assert.Contains(t, why, "may have been sent")
		quietFor(t, fr, time.Hour, 1)
		assert.Equal(t, 1, fr.sends)
	})
}

// TestSendSnapshot: the send outbox's snapshot (what chatfs status shows
// of send/) counts a send's failed attempts from send/'s own queue, and
// its landing carries the message's id.
func TestSendSnapshot(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		fr.onSend = func(ctx context.Context, n int, kind remote.ChatKind, msg remote.Message) error {
			if n == 1 {
				return &remote.Error{Op: "send to users", Status: 403, Code: remote.CodeMessageSendError, Description: "message send reach limit"}
			}
			return nil
		}
		e := startSendEnv(t, fr, nil)
		e.write("users/bob/a.pdf", pdfBytes)
		e.waitFor(func() bool {
			s := e.ob.Snapshot(0)
			return len(s.Items) == 1 && s.Items[0].Attempts == 1
		}, "the failed attempt counted")
		it := e.ob.Snapshot(0).Items[0]
		assert.Equal(t, "users/bob/a.pdf", it.Path)
		assert.Contains(t, it.Error, "message send reach limit")
		f := e.sentRecord("users/bob/a.pdf")
		s := e.ob.Snapshot(0)
		assert.Empty(t, s.Items)
		require.Len(t, s.Landed, 1)
		assert.Equal(t, core.Landed{Seq: 1, Path: "users/bob/a.pdf", UUID: f.UUID, MsgID: f.Msg.MsgID, Size: f.Size, At: s.Landed[0].At}, s.Landed[0])
		assert.NotEmpty(t, f.Msg.MsgID)
		assert.Equal(t, uint64(1), s.LastSeq)
		assert.Empty(t, e.app.Outbox().Snapshot(0).Landed, "not an upload's landing")
	})
}
