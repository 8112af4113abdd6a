package core_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/cache"
	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote"
)

// testApp is the app every test uses.
const testApp = "app"

// uploadTime is the server timestamp the fake answers uploads with.
var uploadTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// sent is one upload call the fake received, with its outcome.
type sent struct {
	Name        string
	Body        []byte
	Restrict    bool
	ThumbWidth  int
	ThumbHeight int
	At          time.Time
	UUID        string // set when the fake stored the file
	Err         error  // what the call returned
	Returned    bool   // the call has returned
}

// fakeRemote is a core.Remote with deterministic timing. Uploads read the
// whole body, then ask onUpload (if set) what to answer: it may block (on a
// gate) and return an error. Downloads are served from files, keyed by uuid
// ("<uuid>.thumb" for thumbnails), with Range honoured when ranges is set.
type fakeRemote struct {
	onUpload   func(ctx context.Context, n int, s sent) error // n counts calls from 1
	onDownload func(ctx context.Context, req remote.DownloadRequest) error
	ranges     bool // honour Range (Offset > 0)
	noSize     bool // answer whole downloads with an unknown size, as without Content-Length (ranged answers carry a Content-Range total)
	cutFirst   int  // when > 0, the first download's body fails after this many bytes
	// uuid, if set, names the file stored by upload call n instead of a
	// fresh uuid (a server that answers a uuid twice).
	uuid func(n int) string

	mu        sync.Mutex
	sent      []sent
	inflight  int
	files     map[string][]byte
	secrets   map[string]string
	downloads []remote.DownloadRequest
	messages  []message // messages the fake accepted
	sends     int       // SendMessage calls

	// onSend, if set, is asked before a message is accepted (n counts
	// calls from 1): an error refuses it.
	onSend func(ctx context.Context, n int, kind remote.ChatKind, msg remote.Message) error
}

// message is one message the fake accepted.
type message struct {
	Kind remote.ChatKind
	Msg  remote.Message
	ID   string
}

func (f *fakeRemote) SendMessage(ctx context.Context, kind remote.ChatKind, msg remote.Message) (remote.SendResult, error) {
	f.mu.Lock()
	f.sends++
	n := f.sends
	f.mu.Unlock()
	if f.onSend != nil {
		if err := f.onSend(ctx, n, kind, msg); err != nil {
			return remote.SendResult{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return remote.SendResult{}, err
	}
	res := remote.SendResult{IDs: map[string]string{}, Timestamp: uploadTime.Add(time.Minute)}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, to := range msg.To {
		id := fmt.Sprintf("10294575008705%05d", len(f.messages)+1)
		res.IDs[to] = id
		f.messages = append(f.messages, message{kind, msg, id})
	}
	return res, nil
}

// accepted returns the messages accepted so far.
func (f *fakeRemote) accepted() []message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]message(nil), f.messages...)
}

func newFakeRemote() *fakeRemote {
	return &fakeRemote{files: map[string][]byte{}, secrets: map[string]string{}}
}

func (f *fakeRemote) Upload(ctx context.Context, req remote.UploadRequest) (remote.UploadResult, error) {
	body, err := io.ReadAll(io.NewSectionReader(req.File, 0, req.Size))
	if err != nil {
		return remote.UploadResult{}, err
	}
	s := sent{Name: req.Name, Body: body, Restrict: req.Restrict, ThumbWidth: req.ThumbWidth, ThumbHeight: req.ThumbHeight, At: time.Now()}
	f.mu.Lock()
	n := len(f.sent) + 1
	f.inflight++
	f.sent = append(f.sent, s)
	f.mu.Unlock()
	if f.onUpload != nil {
		err = f.onUpload(ctx, n, s)
	}
	var res remote.UploadResult
	if err == nil {
		res = remote.UploadResult{
			UUID:        fmt.Sprintf("5fd74830-0000-4000-8000-%012d", n),
			ShareSecret: fmt.Sprintf("secret-%d", n),
			Restricted:  req.Restrict,
			URI:         "https://chat.example/org/app/chatfiles",
			Timestamp:   uploadTime,
		}
		if f.uuid != nil {
			res.UUID = f.uuid(n)
		}
		s.UUID = res.UUID
	}
	s.Err, s.Returned = err, true
	f.mu.Lock()
	f.sent[n-1] = s
	f.inflight--
	if err == nil {
		f.files[res.UUID] = body
		f.files[res.UUID+core.ThumbSuffix] = []byte("thumbnail of " + res.UUID)
	}
	f.mu.Unlock()
	return res, err
}

func (f *fakeRemote) Download(ctx context.Context, req remote.DownloadRequest) (*remote.Download, error) {
	f.mu.Lock()
	f.downloads = append(f.downloads, req)
	f.mu.Unlock()
	if f.onDownload != nil {
		if err := f.onDownload(ctx, req); err != nil {
			return nil, err
		}
	}
	key := req.UUID
	if req.Thumbnail {
		key += core.ThumbSuffix
	}
	f.mu.Lock()
	data, ok := f.files[key]
	f.mu.Unlock()
	if !ok {
		return nil, &remote.Error{Op: "download " + req.UUID, Status: 404, Code: remote.CodeNotFound}
	}
	off := int64(0)
	if f.ranges && req.Offset > 0 && req.Offset <= int64(len(data)) {
		off = req.Offset
	}
	d := &remote.Download{
		Body:        io.NopCloser(bytes.NewReader(data[off:])),
		Offset:      off,
		Size:        int64(len(data)),
		ContentType: "application/octet-stream",
	}
	if f.noSize && off == 0 {
		d.Size = -1
	}
	f.mu.Lock()
	first := len(f.downloads) == 1
	f.mu.Unlock()
	if first && f.cutFirst > 0 && f.cutFirst < len(data[off:]) {
		d.Body = io.NopCloser(io.MultiReader(bytes.NewReader(data[off:int(off)+f.cutFirst]), errReader{io.ErrUnexpectedEOF}))
	}
	return d, nil
}

// errReader fails every read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// calls returns a copy of the upload calls so far.
func (f *fakeRemote) calls() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.sent...)
}

// done returns the upload calls that have returned.
func (f *fakeRemote) done() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sent
	for _, s := range f.sent {
		if s.Returned {
			out = append(out, s)
		}
	}
	return out
}

func (f *fakeRemote) downloadCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.downloads)
}

// gate blocks uploads until released or cancelled.
type gate struct {
	release chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{release: make(chan struct{})} }

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// wait returns nil once released, or ctx's error if cancelled first.
func (g *gate) wait(ctx context.Context) error {
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// clock is an injectable time source that counts its readings.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
	reads  atomic.Int64
}

func (c *clock) Now() time.Time {
	c.reads.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// env is one app over a real index, cache and staging directory.
type env struct {
	t      *testing.T
	app    *core.App
	ob     *core.Outbox
	idx    *index.DB
	cache  *cache.Cache
	remote *fakeRemote
	clock  *clock
	opts   core.Options
	send   bool // ob is the app's send/ outbox
}

// quiet is the logger of the tests: the outcomes are asserted, not logged.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newEnv builds an app with short delays; edit adjusts its options. The
// app is not started.
func newEnv(t *testing.T, fr *fakeRemote, edit func(*core.Options)) *env {
	t.Helper()
	idx, err := index.Open(t.TempDir(), index.Options{Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = idx.Close() })
	c, err := cache.Open(cache.Options{Dir: t.TempDir(), Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() }) // after the app's Close, before the index's
	e := &env{t: t, idx: idx, cache: c, remote: fr, clock: &clock{}}
	e.opts = core.Options{
		Name:         testApp,
		Remote:       fr,
		Index:        idx,
		Cache:        c,
		OutboxDir:    filepath.Join(t.TempDir(), "outbox"),
		SettleDelay:  20 * time.Millisecond,
		RetryBackoff: 20 * time.Millisecond,
		Uploaders:    2,
		Logger:       quiet,
		Now:          e.clock.Now,
	}
	if edit != nil {
		edit(&e.opts)
	}
	e.restart()
	return e
}

// restart builds a new App over the same index, cache and staging
// directory (the previous one must be closed), as the next mount would.
func (e *env) restart() {
	app, err := core.New(e.opts)
	require.NoError(e.t, err)
	e.app, e.ob = app, app.Outbox()
	if e.send {
		e.ob = app.Sendbox()
	}
	e.t.Cleanup(func() { app.Close(0) })
}

func (e *env) start() {
	require.NoError(e.t, e.app.Start(context.Background()))
}

// startEnv builds and starts an app.
func startEnv(t *testing.T, fr *fakeRemote, edit func(*core.Options)) *env {
	e := newEnv(t, fr, edit)
	e.start()
	return e
}

func (e *env) path(rel string) string {
	return filepath.Join(e.ob.Dir(), filepath.FromSlash(rel))
}

// write writes a file in upload/ the way fs/ does: Opened, Modify, write,
// Flushed, Closed.
func (e *env) write(rel string, data []byte) {
	id := e.open(rel)
	e.writeDisk(rel, data)
	e.close(id)
}

// open opens a writer on rel that is about to change it, as fs/ does for
// a create or a write.
func (e *env) open(rel string) uint64 {
	id := e.ob.Opened(rel)
	require.NoError(e.t, e.ob.Modify(id))
	return id
}

// close closes writer id successfully, as fs/ does: Flushed, then Closed.
func (e *env) close(id uint64) {
	require.NoError(e.t, e.ob.Flushed(id, nil))
	e.ob.Closed(id)
}

// touch sets rel's times by name, as touch(1) does: the user's word that
// the file is whole.
func (e *env) touch(rel string) {
	id := e.ob.Opened(rel)
	e.ob.Touched(id)
	e.close(id)
}

// writeDisk writes a staged file without telling the outbox.
func (e *env) writeDisk(rel string, data []byte) {
	require.NoError(e.t, os.MkdirAll(filepath.Dir(e.path(rel)), 0o700))
	require.NoError(e.t, os.WriteFile(e.path(rel), data, 0o600))
}

// rename renames on disk, then tells the outbox.
func (e *env) rename(from, to string) {
	require.NoError(e.t, os.Rename(e.path(from), e.path(to)))
	e.ob.Renamed(from, to)
}

// remove unlinks on disk, then tells the outbox.
func (e *env) remove(rel string) {
	require.NoError(e.t, os.Remove(e.path(rel)))
	e.ob.Removed(rel)
}

// record waits for the file staged at rel to be uploaded, recorded and
// out of upload/ and the queue, and returns its record.
func (e *env) record(rel string) index.File {
	e.t.Helper()
	var f index.File
	e.waitFor(func() bool {
		var err error
		f, err = e.idx.LookupName(testApp, rel) // by-name/ keeps upload/'s folders
		if err != nil || e.exists(rel) {
			return false
		}
		_, err = e.idx.GetUpload(testApp, rel)
		return errors.Is(err, index.ErrNotFound)
	}, "record of %q", rel)
	return f
}

// queueLen is the number of upload queue entries of the app.
func (e *env) queueLen() int {
	n := 0
	require.NoError(e.t, e.idx.ListUploads(testApp, func(index.Upload) error { n++; return nil }))
	return n
}

// files returns the names of every recorded file.
func (e *env) files() []string {
	var names []string
	require.NoError(e.t, e.idx.List(testApp, func(f index.File) error { names = append(names, f.Name); return nil }))
	return names
}

// cached reads key's bytes from the cache, failing if a download is needed.
func (e *env) cached(key string) []byte {
	e.t.Helper()
	require.True(e.t, e.cache.Has(key), "cache has %s", key)
	h, err := e.cache.Open(context.Background(), key, -1, func(context.Context, int64) (io.ReadCloser, int64, int64, error) {
		return nil, 0, 0, errors.New("not cached")
	})
	require.NoError(e.t, err)
	defer h.Close()
	var buf bytes.Buffer
	p := make([]byte, 4096)
	for off := int64(0); ; {
		n, err := h.ReadAt(context.Background(), p, off)
		buf.Write(p[:n])
		off += int64(n)
		if errors.Is(err, io.EOF) {
			return buf.Bytes()
		}
		require.NoError(e.t, err)
	}
}

// exists reports whether rel is staged.
func (e *env) exists(rel string) bool {
	_, err := os.Lstat(e.path(rel))
	return err == nil
}

// The tests that use an env run inside a synctest bubble (synctest.Test):
// time is fake and moves only when every goroutine of the test is blocked,
// so settle delays and backoffs cost nothing, and "nothing happened for d"
// is exact rather than a hope on a slow machine.

// waitFor waits until every goroutine of the bubble is blocked and cond
// holds, letting fake time run a millisecond at a time; it fails the test
// after a fake hour. Only inside a bubble.
func waitFor(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(time.Hour)
	for {
		synctest.Wait()
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for "+format, args...)
		}
		time.Sleep(time.Millisecond) // fake time: lets the next timer fire
	}
}

// waitFor is waitFor for this env's test.
func (e *env) waitFor(cond func() bool, format string, args ...any) {
	e.t.Helper()
	waitFor(e.t, cond, format, args...)
}

// quietFor lets d pass on the bubble's clock, waits until every goroutine
// is blocked, and checks that the fake saw exactly n upload calls: nothing
// more happened in d. Only inside a bubble.
func quietFor(t *testing.T, fr *fakeRemote, d time.Duration, n int) {
	t.Helper()
	time.Sleep(d) // fake time
	synctest.Wait()
	require.Len(t, fr.calls(), n, "upload calls: %v", names(fr.calls()))
}

func names(ss []sent) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

// remoteErr is an error answer of the service.
func remoteErr(status int, code string) error {
	return &remote.Error{Op: "upload", Status: status, Code: code, Description: strings.ToLower(code) + " (test)"}
}

// Sample contents with the types the uploader sniffs.
var (
	pngBytes  = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...)
	jpegBytes = append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), make([]byte, 64)...)
	mp4Bytes  = append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), make([]byte, 64)...)
)

// size is an entry's final size, -1 when not final.
func size(a *core.App, e core.Entry) int64 {
	if n, final := a.Size(e); final {
		return n
	}
	return -1
}
