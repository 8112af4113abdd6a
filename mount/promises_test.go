//go:build linux

package mount_test

// Tests of README "Semantics" promises that only a real mount can hold:
// each would fail if the promise it names broke.

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// TestThumbSizeIsTrueWhenGiven: "<uuid>.thumb ... its size is true
// whenever stat gives it" — a lookup fetches the thumbnail (one download,
// which the read that follows shares), so stat never says 0 bytes and tar
// or rsync never copy an empty thumbnail. chatfs fetches the thumbnails of
// its own image uploads right away.
func TestThumbSizeIsTrueWhenGiven(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	c := svc.client(t, appID)
	img := testPNG(t, 400, 300)
	res, err := c.Upload(context.Background(), remote.UploadRequest{Name: "theirs.png", File: bytes.NewReader(img), Size: int64(len(img))})
	require.NoError(t, err)
	want := serverBytes(t, c, res.UUID, "", true)
	require.NotEmpty(t, want)

	thumb := h.path("files", res.UUID+".thumb")
	st, err := os.Stat(thumb)
	require.NoError(t, err)
	assert.Equal(t, int64(len(want)), st.Size(), "the real size at the first stat")
	f, err := os.Open(thumb)
	require.NoError(t, err)
	buf := make([]byte, len(want)+10)
	n, _ := f.ReadAt(buf, 0)
	require.NoError(t, f.Close())
	assert.Equal(t, want, buf[:n], "one pread returns it all")
	assert.Equal(t, int64(2), svc.emu.ThumbnailCount(res.UUID), "the test's download and the mount's one")

	// Our own image upload: its thumbnail is fetched without being read.
	require.NoError(t, os.WriteFile(h.path("upload", "mine.png"), img, 0o644))
	uuid := h.waitUploaded("mine.png")
	eventually(t, 5*time.Second, "the thumbnail prefetch", func() bool {
		st, err := os.Stat(h.path("files", uuid+".thumb"))
		return err == nil && st.Size() > 0
	})
	assert.Equal(t, int64(1), svc.emu.ThumbnailCount(uuid), "fetched once")
	assert.Zero(t, svc.emu.DownloadCount(uuid))
}

// TestByNameCollisionsAndXattrs: a second photo.jpg is "photo (2).jpg" in
// by-name/, each pointing at its own file; files/ entries carry every
// promised xattr (user.xdg.origin.url included), mode 0400 (restricted
// files are the owner's), the mounting user as owner and the upload time
// as mtime.
func TestByNameCollisionsAndXattrs(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "", func(_ *mount.Options, a *config.App) { a.Restrict = true })
	before := time.Now().Add(-2 * time.Second)
	require.NoError(t, os.WriteFile(h.path("upload", "photo.jpg"), []byte("first"), 0o644))
	first := h.waitUploaded("photo.jpg")
	eventually(t, 5*time.Second, "photo.jpg to leave upload/", func() bool {
		_, err := os.Stat(h.path("upload", "photo.jpg"))
		return os.IsNotExist(err)
	})
	require.NoError(t, os.WriteFile(h.path("upload", "photo.jpg"), []byte("second"), 0o644))
	second := h.waitUploaded("photo (2).jpg")
	require.NotEqual(t, first, second)

	assert.ElementsMatch(t, []string{"photo.jpg", "photo (2).jpg"}, readdirnames(t, h.path("by-name")))
	for name, want := range map[string]string{"photo.jpg": "first", "photo (2).jpg": "second"} {
		got, err := os.ReadFile(h.path("by-name", name))
		require.NoError(t, err)
		assert.Equal(t, want, string(got), name)
	}
	target, err := os.Readlink(h.path("by-name", "photo (2).jpg"))
	require.NoError(t, err)
	assert.Equal(t, "../files/"+second, target)

	p := h.path("files", second)
	url := getxattr(t, p, "user.chatfs.url")
	assert.True(t, strings.HasSuffix(url, "/chatfiles/"+second), url)
	assert.Equal(t, url, getxattr(t, p, "user.xdg.origin.url"))
	assert.Equal(t, "photo.jpg", getxattr(t, p, "user.chatfs.name"), "the original name, not the by-name one")
	assert.NotEmpty(t, getxattr(t, p, "user.chatfs.share_secret"))
	assert.ElementsMatch(t, []string{"user.chatfs.uuid", "user.chatfs.url", "user.chatfs.share_secret", "user.chatfs.name",
		"user.chatfs.expires", "user.mime_type", "user.xdg.origin.url"}, listxattr(t, p))

	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(p, &st))
	assert.Equal(t, uint32(os.Getuid()), st.Uid)
	assert.Equal(t, uint32(os.Getgid()), st.Gid)
	assert.Equal(t, uint32(syscall.S_IFREG|0o600), st.Mode, "restricted: for the owner only")
	mtime := time.Unix(st.Mtim.Unix())
	assert.True(t, mtime.After(before) && mtime.Before(time.Now().Add(2*time.Second)), "mtime %v is the upload time", mtime)
	expires, err := time.Parse(time.RFC3339, getxattr(t, p, "user.chatfs.expires"))
	require.NoError(t, err)
	assert.WithinDuration(t, mtime.Add(7*24*time.Hour), expires, time.Second, "kept 7 days by default")
}

// TestRmInFilesForgets: rm files/<uuid> forgets the file locally — gone
// from files/ and by-name/, its cached bytes dropped — while the server
// keeps it.
func TestRmInFilesForgets(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	require.NoError(t, os.WriteFile(h.path("upload", "gone.txt"), []byte("bye"), 0o644))
	uuid := h.waitUploaded("gone.txt")
	require.NoError(t, os.Remove(h.path("files", uuid)))
	assert.Empty(t, readdirnames(t, h.path("files")))
	assert.Empty(t, readdirnames(t, h.path("by-name")))
	// The kernel drops the by-name/ entry when told to, soon after.
	eventually(t, 2*time.Second, "by-name/gone.txt to go", func() bool {
		_, err := os.Lstat(h.path("by-name", "gone.txt"))
		return os.IsNotExist(err)
	})
	assert.Equal(t, "0", getxattr(t, h.mnt, "user.chatfs.cache_files"), "its bytes left the cache")
	assert.Equal(t, []byte("bye"), serverBytes(t, svc.client(t, appID), uuid, "", false), "still on the server")
}

// TestTempNamesNeverUploadThroughFUSE: the README's temporary names, and
// anything inside a hidden folder, stay in upload/ and are never sent.
func TestTempNamesNeverUploadThroughFUSE(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	temps := []string{"notes.txt~", "film.mkv.part", "setup.exe.crdownload", ".notes.txt.swp", "notes.swp",
		".hidden", ".goutputstream-ABC123", ".stage/inner.txt"}
	require.NoError(t, os.Mkdir(h.path("upload", ".stage"), 0o755))
	for _, name := range temps {
		require.NoError(t, os.WriteFile(h.path("upload", name), []byte(name), 0o644), name)
	}
	require.NoError(t, os.WriteFile(h.path("upload", "real.txt"), []byte("real"), 0o644))
	h.waitUploaded("real.txt")
	time.Sleep(300 * time.Millisecond) // three settle delays more
	assert.Equal(t, int64(1), svc.emu.Stats().Uploads, "only real.txt")
	assert.Equal(t, []string{"real.txt"}, readdirnames(t, h.path("by-name")))
	for _, name := range temps {
		got, err := os.ReadFile(h.path("upload", name))
		require.NoError(t, err, name)
		assert.Equal(t, name, string(got))
	}
}

// TestFoldersInUpload: mkdir works (private mode), a dragged folder's files
// are uploaded under their own names and keep their folders in by-name/,
// the emptied folders stay until removed, and rmdir removes them.
func TestFoldersInUpload(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	require.NoError(t, os.MkdirAll(h.path("upload", "album", "sub"), 0o755))
	st, err := os.Stat(h.path("upload", "album"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm(), "group and other bits dropped")
	require.NoError(t, os.WriteFile(h.path("upload", "album", "a.txt"), []byte("a"), 0o644))
	require.NoError(t, os.WriteFile(h.path("upload", "album", "sub", "b.txt"), []byte("b"), 0o644))
	h.waitUploaded("album/a.txt")
	h.waitUploaded("album/sub/b.txt")
	eventually(t, 5*time.Second, "the files to leave upload/", func() bool {
		return len(readdirnames(t, h.path("upload", "album", "sub"))) == 0
	})
	assert.Equal(t, []string{"album"}, readdirnames(t, h.path("upload")), "the folders stay")
	assert.Equal(t, []string{"sub"}, readdirnames(t, h.path("upload", "album")))
	assert.ErrorIs(t, os.Remove(h.path("upload", "album")), syscall.ENOTEMPTY)
	require.NoError(t, os.Remove(h.path("upload", "album", "sub")))
	require.NoError(t, os.Remove(h.path("upload", "album")))
	assert.Empty(t, readdirnames(t, h.path("upload")))
	assert.Equal(t, int64(2), svc.emu.Stats().Uploads)
}

// TestRenameFolderWithQueuedFiles: renaming a folder within upload/ carries
// its files with it: a hidden staging folder renamed to a visible name
// uploads what it holds, and a folder renamed while its files settle
// uploads each once, under its own name.
func TestRenameFolderWithQueuedFiles(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "", func(o *mount.Options, _ *config.App) { o.SettleDelay = 300 * time.Millisecond })
	require.NoError(t, os.MkdirAll(h.path("upload", ".incoming", "deep"), 0o755))
	require.NoError(t, os.WriteFile(h.path("upload", ".incoming", "one.txt"), []byte("one"), 0o644))
	require.NoError(t, os.WriteFile(h.path("upload", ".incoming", "deep", "two.txt"), []byte("two"), 0o644))
	require.NoError(t, os.MkdirAll(h.path("upload", "draft"), 0o755))
	require.NoError(t, os.WriteFile(h.path("upload", "draft", "three.txt"), []byte("three"), 0o644))
	time.Sleep(100 * time.Millisecond) // settling, not yet queued
	assert.Zero(t, svc.emu.Stats().Uploads)
	require.NoError(t, os.Rename(h.path("upload", ".incoming"), h.path("upload", "incoming")))
	require.NoError(t, os.Rename(h.path("upload", "draft"), h.path("upload", "final")))
	// by-name/ shows the folders as they were named when the files left.
	for name, want := range map[string]string{"incoming/one.txt": "one", "incoming/deep/two.txt": "two", "final/three.txt": "three"} {
		uuid := h.waitUploaded(name)
		got, err := os.ReadFile(h.path("files", uuid))
		require.NoError(t, err)
		assert.Equal(t, want, string(got))
	}
	time.Sleep(400 * time.Millisecond)
	assert.Equal(t, int64(3), svc.emu.Stats().Uploads, "each file once")
}

func listxattr(t *testing.T, path string) []string {
	t.Helper()
	buf := make([]byte, 64<<10)
	n, err := syscall.Listxattr(path, buf)
	require.NoError(t, err)
	var names []string
	for _, s := range strings.Split(string(buf[:n]), "\x00") {
		if s != "" {
			names = append(names, s)
		}
	}
	return names
}

// TestCacheBoundThroughMount: the download cache stays within --cache-size,
// evicting the least recently used file first and never a file that is
// open: its reader keeps getting exact bytes with no download.
func TestCacheBoundThroughMount(t *testing.T) {
	svc := newService(t, emulator.Options{})
	const size = 60_000
	h := newHarness(t, svc, "", func(o *mount.Options, _ *config.App) { o.CacheSize = 2*size + size/2 })
	data := map[string][]byte{}
	uuids := map[string]string{}
	upload := func(name string) {
		data[name] = randomBytes(t, size)
		require.NoError(t, os.WriteFile(h.path("upload", name), data[name], 0o644))
		uuids[name] = h.waitUploaded(name)
		eventually(t, 5*time.Second, name+" to leave upload/", func() bool {
			_, err := os.Stat(h.path("upload", name))
			return os.IsNotExist(err)
		})
	}
	upload("a.bin")
	open, err := os.Open(h.path("files", uuids["a.bin"]))
	require.NoError(t, err)
	defer open.Close()
	upload("b.bin")
	upload("c.bin") // over the bound: a is the oldest but open, so b goes

	used, err := strconv.ParseInt(getxattr(t, h.mnt, "user.chatfs.cache_bytes"), 10, 64)
	require.NoError(t, err)
	assert.LessOrEqual(t, used, int64(2*size+size/2))
	assert.Equal(t, "2", getxattr(t, h.mnt, "user.chatfs.cache_files"))

	got, err := io.ReadAll(open)
	require.NoError(t, err)
	assert.Equal(t, data["a.bin"], got)
	assert.Zero(t, svc.emu.DownloadCount(uuids["a.bin"]), "the open file stayed cached")
	for _, name := range []string{"c.bin", "b.bin"} {
		got, err := os.ReadFile(h.path("files", uuids[name]))
		require.NoError(t, err)
		assert.Equal(t, data[name], got, name)
	}
	assert.Equal(t, int64(1), svc.emu.DownloadCount(uuids["b.bin"]), "b was evicted")
	assert.Zero(t, svc.emu.DownloadCount(uuids["c.bin"]), "c, the newest, stayed")
}

// TestSettleWaitsForLastWriterAndQuiet: a file is uploaded only once no
// writer has it open and nothing changed it for the settle delay.
func TestSettleWaitsForLastWriterAndQuiet(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "", func(o *mount.Options, _ *config.App) { o.SettleDelay = 400 * time.Millisecond })
	f, err := os.Create(h.path("upload", "slow.txt"))
	require.NoError(t, err)
	_, err = f.WriteString("part one, ")
	require.NoError(t, err)
	time.Sleep(600 * time.Millisecond) // longer than the settle delay, but open
	assert.Zero(t, svc.emu.Stats().Uploads, "an open file is not uploaded")
	_, err = f.WriteString("part two")
	require.NoError(t, err)
	closed := time.Now()
	require.NoError(t, f.Close())
	time.Sleep(200 * time.Millisecond)
	assert.Zero(t, svc.emu.Stats().Uploads, "not before the settle delay")
	uuid := h.waitUploaded("slow.txt")
	assert.GreaterOrEqual(t, time.Since(closed), 400*time.Millisecond)
	got, err := os.ReadFile(h.path("files", uuid))
	require.NoError(t, err)
	assert.Equal(t, "part one, part two", string(got))
}

// TestMountIsPrivateUnlessAllowOther: without --allow-other another user
// sees nothing of the mount; with it, they see the apps.
func TestMountIsPrivateUnlessAllowOther(t *testing.T) {
	svc := newService(t, emulator.Options{})
	for _, allow := range []bool{false, true} {
		h := newHarness(t, svc, "", func(o *mount.Options, _ *config.App) { o.AllowOther = allow })
		opts := mountOptions(t, h.mnt)
		assert.Equal(t, allow, strings.Contains(opts, "allow_other"), "mount options %q", opts)
		if os.Geteuid() != 0 {
			continue // another user's view needs root to switch users
		}
		require.NoError(t, os.Chmod(filepath.Dir(h.mnt), 0o755)) // the test's temp dir, for nobody to traverse
		cmd := exec.Command("ls", h.mnt)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if allow {
			require.NoError(t, err, "%s", out)
			assert.Equal(t, appID+"\n", string(out))
		} else {
			require.Error(t, err, "another user listed the mount: %s", out)
			assert.Contains(t, string(out), "Permission denied")
		}
		h.unmount()
	}
}

// mountOptions returns the options of the mount at mnt in /proc/mounts.
func mountOptions(t *testing.T, mnt string) string {
	t.Helper()
	mounts, err := os.ReadFile("/proc/mounts")
	require.NoError(t, err)
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[1] == mnt {
			return f[3]
		}
	}
	t.Fatalf("%s is not in /proc/mounts", mnt)
	return ""
}

// TestCopyFileRangeKeepsSizeLimit: copy_file_range within upload/ falls
// back to read and write, so a copy past --max-size fails with EFBIG.
func TestCopyFileRangeKeepsSizeLimit(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "", func(_ *mount.Options, a *config.App) { a.MaxSize = 1 << 20 })
	data := randomBytes(t, 700_000)
	require.NoError(t, os.WriteFile(h.path("upload", ".src"), data, 0o644))
	src, err := os.Open(h.path("upload", ".src"))
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.Create(h.path("upload", ".dst"))
	require.NoError(t, err)
	defer dst.Close()
	copyAt := func(off int64) (int, error) {
		in, out := int64(0), off
		return unix.CopyFileRange(int(src.Fd()), &in, int(dst.Fd()), &out, len(data), 0)
	}
	n, err := copyAt(0)
	require.NoError(t, err)
	require.Equal(t, len(data), n)
	// The second copy stops at the limit: a short copy, then EFBIG.
	end := int64(len(data))
	for i := 0; i < 10; i++ {
		n, err = copyAt(end)
		if err != nil {
			break
		}
		require.Positive(t, n)
		end += int64(n)
	}
	assert.ErrorIs(t, err, syscall.EFBIG)
	assert.LessOrEqual(t, end, int64(1<<20))
	st, err := dst.Stat()
	require.NoError(t, err)
	assert.LessOrEqual(t, st.Size(), int64(1<<20))
}

// TestFailedUploadQueuedAgainByAChange: a permanent failure (413) leaves
// the file failed, not retried, until it changes; any change queues it
// again.
func TestFailedUploadQueuedAgainByAChange(t *testing.T) {
	svc := newService(t, emulator.Options{MaxSize: 100})
	h := newHarness(t, svc, "", func(o *mount.Options, _ *config.App) { o.UploadBackoff = 20 * time.Millisecond })
	p := h.path("upload", "shrink.txt")
	require.NoError(t, os.WriteFile(p, bytes.Repeat([]byte("x"), 1000), 0o644))
	eventually(t, 5*time.Second, "the upload to fail", func() bool {
		v, _ := getxattrErr(p, "user.chatfs.state")
		return v == "failed"
	})
	attempts := svc.requests.Load()
	time.Sleep(300 * time.Millisecond) // many backoffs: a permanent failure is not retried
	assert.Equal(t, attempts, svc.requests.Load())
	assert.Equal(t, "failed", getxattr(t, p, "user.chatfs.state"))

	require.NoError(t, os.Truncate(p, 50))
	uuid := h.waitUploaded("shrink.txt")
	got, err := os.ReadFile(h.path("files", uuid))
	require.NoError(t, err)
	assert.Equal(t, bytes.Repeat([]byte("x"), 50), got)
}
