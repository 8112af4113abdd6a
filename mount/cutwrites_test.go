//go:build linux

package mount_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// uploadState reads a staged file's user.chatfs.state and user.chatfs.error.
func uploadState(t *testing.T, p string) (state, reason string) {
	t.Helper()
	buf := make([]byte, 4096)
	n, err := unix.Getxattr(p, "user.chatfs.state", buf)
	require.NoError(t, err, "state of %s", p)
	state = string(buf[:n])
	if n, err := unix.Getxattr(p, "user.chatfs.error", buf); err == nil {
		reason = string(buf[:n])
	}
	return state, reason
}

// requireNotUploaded proves that the files named are never uploaded: a
// sentinel closed after them is uploaded (uploads go in queue order), and
// by then the service has stored only the sentinels and what was expected.
func (h *harness) requireNotUploaded(t *testing.T, wantUploads int64, names ...string) {
	t.Helper()
	sentinel := fmt.Sprintf("sentinel-%d.txt", time.Now().UnixNano())
	require.NoError(t, os.WriteFile(h.path("upload", sentinel), []byte("after"), 0o600))
	h.waitUploaded(sentinel)
	for _, name := range names {
		_, err := os.Lstat(h.path("by-name", name))
		assert.ErrorIs(t, err, os.ErrNotExist, "%s was uploaded", name)
	}
	assert.Equal(t, wantUploads, h.svc.emu.Stats().Uploads)
}

// A file whose writing failed — past the size limit through write,
// truncate, fallocate, cp, dd — is never uploaded: it stays in upload/ as
// failed with the reason, until the user touches it (their word that it is
// whole) or writes it again. An empty file is refused locally, clearly.
func TestCutWritesStayFailed(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "", func(o *mount.Options, a *config.App) { a.MaxSize = 1 << 20 })
	src := filepath.Join(t.TempDir(), "big.bin")
	big := randomBytes(t, (1<<20)+4096)
	require.NoError(t, os.WriteFile(src, big, 0o600))
	const limitReason = "limit"

	cases := []struct {
		name string
		cut  func(p string) error
		why  string
	}{
		{"write.bin", func(p string) error { return os.WriteFile(p, big, 0o600) }, limitReason},
		{"ftruncate.bin", func(p string) error {
			f, err := os.Create(p)
			require.NoError(t, err)
			defer f.Close()
			return f.Truncate(2 << 20)
		}, limitReason},
		{"fallocate.bin", func(p string) error {
			f, err := os.Create(p)
			require.NoError(t, err)
			defer f.Close()
			return unix.Fallocate(int(f.Fd()), 0, 0, 2<<20)
		}, limitReason},
		{"cp.bin", func(p string) error { return exec.Command("cp", src, p).Run() }, limitReason},
		{"dd.bin", func(p string) error {
			return exec.Command("dd", "if="+src, "of="+p, "bs=64k", "status=none").Run()
		}, limitReason},
		{"empty.txt", func(p string) error { return os.WriteFile(p, nil, 0o600) }, "empty"},
	}
	for _, tc := range cases {
		p := h.path("upload", tc.name)
		err := tc.cut(p)
		if tc.why == limitReason {
			require.Error(t, err, tc.name)
		} else {
			require.NoError(t, err, tc.name)
		}
	}
	for _, tc := range cases {
		p := h.path("upload", tc.name)
		var state, reason string
		eventually(t, 5*time.Second, tc.name+" to fail", func() bool {
			state, reason = uploadState(t, p)
			return state == "failed"
		})
		assert.Contains(t, reason, tc.why, tc.name)
	}
	h.requireNotUploaded(t, 1, "write.bin", "ftruncate.bin", "fallocate.bin", "cp.bin", "dd.bin", "empty.txt")
	_, reason := uploadState(t, h.path("upload", "write.bin"))
	assert.Contains(t, reason, "larger than this app's limit of 1048576 bytes")

	// A failed file survives a remount as failed.
	h.unmount()
	h.mount(func(o *mount.Options, a *config.App) { a.MaxSize = 1 << 20 })
	state, _ := uploadState(t, h.path("upload", "cp.bin"))
	assert.Equal(t, "failed", state)

	// Touched: the user's word. Uploaded as it stands (the first MiB).
	now := time.Now()
	require.NoError(t, os.Chtimes(h.path("upload", "cp.bin"), now, now))
	uuid := h.waitUploaded("cp.bin")
	got, err := os.ReadFile(h.path("files", uuid))
	require.NoError(t, err)
	assert.Equal(t, big[:1<<20], got)

	// Written again, whole: uploaded.
	require.NoError(t, os.WriteFile(h.path("upload", "dd.bin"), big[:1000], 0o600))
	uuid = h.waitUploaded("dd.bin")
	got, err = os.ReadFile(h.path("files", uuid))
	require.NoError(t, err)
	assert.Equal(t, big[:1000], got)
}

// A writer open when the mount is killed, or when it is unmounted, leaves
// a file that the next mount shows as failed ("chatfs stopped while it was
// being written") and never uploads; files closed before upload as ever.
func TestStoppedWhileWritingStaysFailed(t *testing.T) {
	requireFUSE(t)
	svc := newService(t, emulator.Options{})

	t.Run("kill -9", func(t *testing.T) {
		state, mnt := t.TempDir(), t.TempDir()
		child := startChild(t, mnt, state, closedPort(t), svc.emu.Token())
		whole := randomBytes(t, 300_000)
		require.NoError(t, os.WriteFile(filepath.Join(mnt, appID, "upload", "whole.bin"), whole, 0o600))
		f, err := os.Create(filepath.Join(mnt, appID, "upload", "cut.bin"))
		require.NoError(t, err)
		_, err = f.Write(randomBytes(t, 200_000))
		require.NoError(t, err)
		require.NoError(t, child.Process.Signal(syscall.SIGKILL))
		_, _ = child.Process.Wait()
		_ = f.Close()
		lazyUnmount(mnt)

		before := svc.emu.Stats().Uploads
		h := newHarness(t, svc, state)
		uuid := h.waitUploaded("whole.bin")
		got, err := os.ReadFile(h.path("files", uuid))
		require.NoError(t, err)
		assert.Equal(t, whole, got)
		st, reason := uploadState(t, h.path("upload", "cut.bin"))
		assert.Equal(t, "failed", st)
		assert.Contains(t, reason, "chatfs stopped while it was being written")
		h.requireNotUploaded(t, before+2, "cut.bin")
	})

	t.Run("unmount with a writer open", func(t *testing.T) {
		state := t.TempDir()
		h := newHarness(t, svc, state)
		f, err := os.Create(h.path("upload", "open.bin"))
		require.NoError(t, err)
		_, err = f.Write([]byte("the first half"))
		require.NoError(t, err)
		h.unmount()
		_ = f.Close()

		before := svc.emu.Stats().Uploads
		h2 := newHarness(t, svc, state)
		st, reason := uploadState(t, h2.path("upload", "open.bin"))
		assert.Equal(t, "failed", st)
		assert.Contains(t, reason, "chatfs stopped")
		h2.requireNotUploaded(t, before+1, "open.bin")
	})
}

// Closing a file whose folder was renamed while it was open succeeds (the
// folder to sync is where the file is now), and the file is uploaded.
func TestCloseAfterFolderRenamed(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	require.NoError(t, os.Mkdir(h.path("upload", "d"), 0o700))
	f, err := os.Create(h.path("upload", "d", "moved.txt"))
	require.NoError(t, err)
	_, err = f.Write([]byte("moved while open"))
	require.NoError(t, err)
	require.NoError(t, os.Rename(h.path("upload", "d"), h.path("upload", "e")))
	require.NoError(t, f.Close())
	uuid := h.waitUploaded("e/moved.txt") // the folder at upload time counts
	got, err := os.ReadFile(h.path("files", uuid))
	require.NoError(t, err)
	assert.Equal(t, "moved while open", string(got))
}

// countingSyncer counts the syncs the outbox asks for, then does them.
type countingSyncer struct {
	mu    sync.Mutex
	files int
	dirs  []string
}

func (c *countingSyncer) File(f core.SyncFile) error {
	c.mu.Lock()
	c.files++
	c.mu.Unlock()
	return f.Sync()
}

func (c *countingSyncer) Dir(dir string) error {
	c.mu.Lock()
	c.dirs = append(c.dirs, filepath.Base(dir))
	c.mu.Unlock()
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (c *countingSyncer) counts() (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.files, append([]string(nil), c.dirs...)
}

// The durability promise: when close returns, the file and its folder were
// synced; when rename returns, both folders were. Removing any of those
// syncs fails this test.
func TestCloseAndRenameSync(t *testing.T) {
	svc := newService(t, emulator.Options{})
	cs := &countingSyncer{}
	h := newHarness(t, svc, "", func(o *mount.Options, a *config.App) {
		o.Sync = cs
		o.SettleDelay = time.Hour // nothing leaves upload/ during the test
	})
	root := filepath.Base(h.m.Apps[0].Outbox().Dir())
	require.NoError(t, os.Mkdir(h.path("upload", "sub"), 0o700))
	_, dirs := cs.counts()
	assert.Equal(t, []string{root}, dirs, "mkdir syncs the folder above")
	require.NoError(t, os.WriteFile(h.path("upload", "sub", "a.txt.part"), []byte("x"), 0o600))
	files, dirs := cs.counts()
	assert.Equal(t, 1, files, "close syncs the file")
	assert.Equal(t, []string{root, "sub"}, dirs, "close syncs its folder")

	require.NoError(t, os.Rename(h.path("upload", "sub", "a.txt.part"), h.path("upload", "a.txt")))
	files, dirs = cs.counts()
	assert.Equal(t, 1, files)
	assert.ElementsMatch(t, []string{root, "sub", root, "sub"}, dirs, "rename syncs both folders")

	// A read-only open and close changes nothing and syncs nothing.
	r, err := os.Open(h.path("upload", "a.txt"))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, r)
	require.NoError(t, r.Close())
	files2, dirs2 := cs.counts()
	assert.Equal(t, files, files2)
	assert.Equal(t, len(dirs), len(dirs2))
}

// smallDisk mounts a tmpfs of size bytes for the test (root only) and
// returns its path.
func smallDisk(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	require.NoError(t, unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)))
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// fill writes a file of zeros into dir until dir's disk has about leave
// bytes available, and returns its path.
func fill(t *testing.T, dir string, leave int64) string {
	t.Helper()
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(dir, &st))
	avail := int64(st.Bavail) * int64(st.Bsize)
	p := filepath.Join(dir, fmt.Sprintf("filler-%d", time.Now().UnixNano()))
	if avail > leave {
		require.NoError(t, os.WriteFile(p, make([]byte, avail-leave), 0o600))
	}
	return p
}

// A full state disk is an error, not a crash: writers get ENOSPC and their
// files stay failed with the reason, the mount stays up and serves reads,
// uploads stall while the index has no room and resume once space returns,
// and opening the index on a full disk fails with a clear message.
func TestFullDiskIsAnErrorNotACrash(t *testing.T) {
	requireFUSE(t)
	disk := smallDisk(t, 160<<20)
	svc := newService(t, emulator.Options{})
	state := filepath.Join(disk, "state")
	h := newHarness(t, svc, state, func(o *mount.Options, a *config.App) {
		o.UploadBackoff = 50 * time.Millisecond
		o.CacheMinFree = -1 // the cached copies of uploads fill the disk too
	})

	// A file uploaded before the disk fills, to read later.
	early := randomBytes(t, 100_000)
	require.NoError(t, os.WriteFile(h.path("upload", "early.bin"), early, 0o600))
	earlyUUID := h.waitUploaded("early.bin")

	// Files copied in until the disk is full (down to upload/'s reserve).
	var full error
	var written int
	for i := 0; i < 40 && full == nil; i++ {
		full = os.WriteFile(h.path("upload", fmt.Sprintf("f%02d.bin", i)), randomBytes(t, 8<<20), 0o600)
		if full == nil {
			written++
		}
	}
	require.ErrorIs(t, full, syscall.ENOSPC, "a writer on a full disk gets ENOSPC")
	cut := h.path("upload", fmt.Sprintf("f%02d.bin", written))
	st, reason := uploadState(t, cut)
	assert.Equal(t, "failed", st)
	assert.Contains(t, reason, "disk was full")
	disk1 := getxattr(t, h.path("upload"), "user.chatfs.disk")
	assert.Contains(t, disk1, "full", "upload/ says the disk is full")

	// Reads still work.
	got, err := os.ReadFile(h.path("files", earlyUUID))
	require.NoError(t, err)
	assert.Equal(t, early, got)

	// A file whose uploads fail for now (the service answers 503).
	var refuse atomic.Bool
	refuse.Store(true)
	hook := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if r.Method == http.MethodPost && refuse.Load() {
			http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	svc.hook.Store(&hook)
	require.NoError(t, os.Remove(cut)) // room for one more file
	late := randomBytes(t, 1000)
	require.NoError(t, os.WriteFile(h.path("upload", "late.bin"), late, 0o600))
	eventually(t, 10*time.Second, "an attempt of late.bin", func() bool {
		_, reason := uploadState(t, h.path("upload", "late.bin"))
		return reason != ""
	})

	// Another program fills the disk past the index's own reserve: the
	// index refuses to write (no SIGBUS) and uploads stall; the mount
	// still answers.
	filler := fill(t, disk, 8<<20)
	refuse.Store(false)
	_, err = os.ReadDir(h.path("upload"))
	require.NoError(t, err)
	got, err = os.ReadFile(h.path("files", earlyUUID))
	require.NoError(t, err)
	assert.Equal(t, early, got)

	// Space returns: late.bin and every whole file are uploaded.
	require.NoError(t, os.Remove(filler))
	uuid := h.waitUploaded("late.bin")
	got, err = os.ReadFile(h.path("files", uuid))
	require.NoError(t, err)
	assert.Equal(t, late, got)
	for i := 0; i < written; i++ {
		h.waitUploaded(fmt.Sprintf("f%02d.bin", i))
	}

	// Opening the index on a full disk: a clear error, never a signal.
	h.unmount()
	filler = fill(t, disk, 4<<20)
	dirs, err := config.StateDirs(state)
	require.NoError(t, err)
	_, err = mount.New(t.Context(), mount.Options{Mountpoint: t.TempDir(), Dirs: dirs, Logger: quietLogger(),
		Apps: []mount.App{{App: h.app}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "full")
	require.NoError(t, os.Remove(filler))
}

// A path through the mount up to PATH_MAX long works in upload/: the
// staging directory's own (longer) path is not counted against it.
func TestLongestPathsInUpload(t *testing.T) {
	svc := newService(t, emulator.Options{})
	long := filepath.Join(t.TempDir(), strings.Repeat("s", 200), strings.Repeat("t", 200))
	require.NoError(t, os.MkdirAll(long, 0o700))
	h := newHarness(t, svc, long)
	const pathMax = 4096 // with its NUL
	p := h.path("upload")
	for len(p)+1+255+1 < pathMax-1 {
		p = filepath.Join(p, strings.Repeat("d", 200))
		require.NoError(t, os.Mkdir(p, 0o700))
	}
	name := strings.Repeat("f", pathMax-1-len(p)-1-4) + ".txt"
	require.LessOrEqual(t, len(name), 255)
	p = filepath.Join(p, name)
	require.Len(t, p, pathMax-1)
	require.NoError(t, os.WriteFile(p, []byte("deep"), 0o600))
	// by-name/ keeps the folders, so the link's path is one byte longer
	// than PATH_MAX ("by-name" against "upload"): reach it a folder at a
	// time, as a file manager walking into it does.
	rel, err := filepath.Rel(h.path("upload"), p)
	require.NoError(t, err)
	var target string
	eventually(t, 15*time.Second, "upload of "+name, func() bool {
		target, err = readlinkWalking(h.path("by-name"), rel)
		return err == nil
	})
	got, err := os.ReadFile(h.path("files", filepath.Base(target)))
	require.NoError(t, err)
	assert.Equal(t, "deep", string(got))
}

// readlinkWalking reads the link at rel below dir by opening one folder
// at a time, so that no path handed to the kernel is longer than a
// component.
func readlinkWalking(dir, rel string) (string, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	parts := strings.Split(rel, "/")
	for _, part := range parts[:len(parts)-1] {
		next, err := unix.Openat(fd, part, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return "", err
		}
		fd = next
	}
	defer unix.Close(fd)
	buf := make([]byte, 8192)
	n, err := unix.Readlinkat(fd, parts[len(parts)-1], buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// A writer cut by another program filling the disk past both reserves:
// the index cannot record the failure, yet upload/ must not call the file
// "waiting" (it is never uploaded): it is failed, with a reason, while the
// disk is full and after space returns.
func TestCutWhileIndexFullIsFailedNotWaiting(t *testing.T) {
	requireFUSE(t)
	disk := smallDisk(t, 120<<20)
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, filepath.Join(disk, "state"))

	p := h.path("upload", "cut.bin")
	f, err := os.Create(p)
	require.NoError(t, err)
	_, err = f.Write(randomBytes(t, 100_000))
	require.NoError(t, err)
	filler := fill(t, disk, 0) // another program: past both reserves
	_, werr := f.Write(randomBytes(t, 100_000))
	require.ErrorIs(t, werr, syscall.ENOSPC)
	_ = f.Close()

	time.Sleep(time.Second) // settled
	st, reason := uploadState(t, p)
	assert.Equal(t, "failed", st, "a cut file whose failure the index could not record")
	assert.NotEmpty(t, reason)

	require.NoError(t, os.Remove(filler))
	h.requireNotUploaded(t, 1, "cut.bin") // the uploaders are at work again
	st, reason = uploadState(t, p)
	assert.Equal(t, "failed", st, "after space returned")
	assert.NotEmpty(t, reason)
}

// fallocate(2) reserves disk space as a write does: one that would eat
// into upload/'s reserve fails with ENOSPC and leaves the file failed,
// and the index keeps room to record every other file (a later file is
// still uploaded).
func TestFallocateKeepsTheReserve(t *testing.T) {
	requireFUSE(t)
	disk := smallDisk(t, 160<<20)
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, filepath.Join(disk, "state"), func(o *mount.Options, a *config.App) { a.MaxSize = 150 << 20 })

	p := h.path("upload", "prealloc.bin")
	f, err := os.Create(p)
	require.NoError(t, err)
	aerr := unix.Fallocate(int(f.Fd()), 0, 0, 130<<20)
	_ = f.Close()
	require.ErrorIs(t, aerr, syscall.ENOSPC, "fallocate into the reserve")
	st, reason := uploadState(t, p)
	assert.Equal(t, "failed", st)
	assert.Contains(t, reason, "disk was full")
	assert.Less(t, fileSize(t, p), int64(1<<20), "nothing was allocated")

	require.NoError(t, os.WriteFile(h.path("upload", "after.txt"), []byte("after"), 0o600))
	h.waitUploaded("after.txt")
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	require.NoError(t, err)
	return st.Size()
}

// A staged file cut between mounts (the disk, or another program, damaged
// the state) after it was recorded complete is not uploaded short: the
// queue entry does not remember what was vouched for, so the next mount
// would send the cut bytes as a whole file.
func TestStagedFileCutBetweenMountsIsNotUploaded(t *testing.T) {
	requireFUSE(t)
	svc := newService(t, emulator.Options{})
	state := t.TempDir()
	h := newHarness(t, svc, state, func(o *mount.Options, a *config.App) { o.SettleDelay = time.Hour })
	whole := randomBytes(t, 300_000)
	require.NoError(t, os.WriteFile(h.path("upload", "w.bin"), whole, 0o600))
	h.unmount()

	dirs, err := config.StateDirs(state)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(filepath.Join(dirs.Data, "outbox", appID, "w.bin"), 1000))

	h.mount()
	var st, reason string
	eventually(t, 10*time.Second, "w.bin to fail", func() bool {
		st, reason = uploadState(t, h.path("upload", "w.bin"))
		return st == "failed"
	})
	assert.Contains(t, reason, "changed outside chatfs")
	h.requireNotUploaded(t, 1, "w.bin")
}

// The cached copies of uploaded (or read) files never crowd upload/ out of
// its disk: the cache gives back space (least recently used first) before
// upload/ would call the disk full, so copying files in one after another
// keeps working on a small state disk.
func TestCacheLeavesRoomForUploads(t *testing.T) {
	requireFUSE(t)
	disk := smallDisk(t, 200<<20)
	svc := newService(t, emulator.Options{MaxSize: 40 << 20})
	h := newHarness(t, svc, filepath.Join(disk, "state"), func(o *mount.Options, a *config.App) { a.MaxSize = 40 << 20 })
	for i := range 5 {
		name := fmt.Sprintf("f%d.bin", i)
		data := randomBytes(t, 30<<20)
		require.NoError(t, os.WriteFile(h.path("upload", name), data, 0o600), "copy %d into upload/", i)
		h.waitUploaded(name)
	}
}

// A file read through files/ is cached while it is open; once closed, its
// space goes back to upload/ if the disk needs it, at once (not at some
// later download).
func TestCacheGivesBackRoomAfterARead(t *testing.T) {
	requireFUSE(t)
	disk := smallDisk(t, 200<<20)
	svc := newService(t, emulator.Options{MaxSize: 150 << 20})
	h := newHarness(t, svc, filepath.Join(disk, "state"), func(o *mount.Options, a *config.App) { a.MaxSize = 150 << 20 })
	data := randomBytes(t, 100<<20)
	res, err := svc.client(t, appID).Upload(t.Context(), remote.UploadRequest{Name: "big.bin", File: bytes.NewReader(data), Size: int64(len(data))})
	require.NoError(t, err)

	got, err := os.ReadFile(h.path("files", res.UUID))
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got), "the read's bytes")

	require.NoError(t, os.WriteFile(h.path("upload", "after.bin"), randomBytes(t, 40<<20), 0o600))
	h.waitUploaded("after.bin")
}

// An upload attempt whose outcome the index cannot record (another
// program filled the disk while the file was being sent) is not left
// claimed for good: once space returns, the file is uploaded.
func TestAttemptUnrecordedOnFullDiskIsRetried(t *testing.T) {
	requireFUSE(t)
	disk := smallDisk(t, 120<<20)
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, filepath.Join(disk, "state"), func(o *mount.Options, a *config.App) { o.UploadBackoff = 50 * time.Millisecond })

	var filler atomic.Value
	var once sync.Once
	hook := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if r.Method != http.MethodPost {
			return false
		}
		refused := false
		once.Do(func() {
			filler.Store(fill(t, disk, 0)) // past both reserves, while the file is sent
			http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
			refused = true
		})
		return refused
	}
	svc.hook.Store(&hook)
	data := randomBytes(t, 1000)
	require.NoError(t, os.WriteFile(h.path("upload", "a.bin"), data, 0o600))
	eventually(t, 10*time.Second, "the refused attempt", func() bool { return filler.Load() != nil })
	time.Sleep(time.Second) // the outcome finds the index full
	require.NoError(t, os.Remove(filler.Load().(string)))

	uuid := h.waitUploaded("a.bin")
	got, err := os.ReadFile(h.path("files", uuid))
	require.NoError(t, err)
	assert.Equal(t, data, got)
}
