//go:build linux

package mount_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
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
)

// testPNG is a w×h PNG with enough noise to be over 10 KB.
func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	noise := make([]byte, w*h)
	_, _ = rand.Read(noise)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := noise[y*w+x]
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), n, 255})
		}
	}
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	return b.Bytes()
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// serverBytes downloads a file from the service behind the mount's back.
func serverBytes(t *testing.T, c *remote.Client, uuid, secret string, thumb bool) []byte {
	t.Helper()
	d, err := c.Download(context.Background(), remote.DownloadRequest{UUID: uuid, ShareSecret: secret, Thumbnail: thumb})
	require.NoError(t, err)
	defer d.Body.Close()
	b, err := io.ReadAll(d.Body)
	require.NoError(t, err)
	return b
}

func TestImageUploadAppearsInFilesAndByName(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	img := testPNG(t, 800, 600)
	require.NoError(t, os.WriteFile(h.path("upload", "photo.png"), img, 0o644))

	uuid := h.waitUploaded("photo.png")
	require.True(t, remote.ValidUUID(uuid), uuid)
	target, err := os.Readlink(h.path("by-name", "photo.png"))
	require.NoError(t, err)
	assert.Equal(t, "../files/"+uuid, target)

	// It left upload/.
	eventually(t, 5*time.Second, "photo.png to leave upload/", func() bool {
		_, err := os.Stat(h.path("upload", "photo.png"))
		return os.IsNotExist(err)
	})

	// stat gives the real size before any read.
	st, err := os.Stat(h.path("files", uuid))
	require.NoError(t, err)
	assert.Equal(t, int64(len(img)), st.Size())
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm(), "the owner's write bit: user.chatfs.lifetime")

	// Bytes equal the server's, and our own upload is never downloaded.
	got, err := os.ReadFile(h.path("files", uuid))
	require.NoError(t, err)
	assert.Zero(t, svc.emu.DownloadCount(uuid))
	assert.Equal(t, serverBytes(t, svc.client(t, appID), uuid, "", false), got)
	assert.Equal(t, img, got)

	// pread at scattered offsets and past EOF.
	f, err := os.Open(h.path("by-name", "photo.png"))
	require.NoError(t, err)
	defer f.Close()
	for _, off := range []int64{0, 1, 4095, 4096, 65537, int64(len(img)) - 10, int64(len(img)) - 1} {
		buf := make([]byte, 100)
		n, err := f.ReadAt(buf, off)
		want := img[off:min(off+100, int64(len(img)))]
		if int64(len(want)) < 100 {
			assert.ErrorIs(t, err, io.EOF)
		} else {
			require.NoError(t, err)
		}
		assert.Equal(t, want, buf[:n], "offset %d", off)
	}
	n, err := f.ReadAt(make([]byte, 10), int64(len(img))+1000)
	assert.Equal(t, 0, n)
	assert.ErrorIs(t, err, io.EOF)

	// The thumbnail fits the default box.
	th, err := os.ReadFile(h.path("files", uuid+".thumb"))
	require.NoError(t, err)
	cfg, err := png.DecodeConfig(bytes.NewReader(th))
	require.NoError(t, err)
	assert.LessOrEqual(t, cfg.Width, 170)
	assert.LessOrEqual(t, cfg.Height, 170)
	assert.Equal(t, 170, cfg.Width)

	// xattrs.
	assert.Equal(t, uuid, getxattr(t, h.path("files", uuid), "user.chatfs.uuid"))
	assert.Equal(t, "photo.png", getxattr(t, h.path("files", uuid), "user.chatfs.name"))
	assert.Equal(t, "image/png", getxattr(t, h.path("files", uuid), "user.mime_type"))
	assert.True(t, strings.HasSuffix(getxattr(t, h.path("files", uuid), "user.chatfs.url"), "/chatfiles/"+uuid))
	_, err = time.Parse(time.RFC3339, getxattr(t, h.path("files", uuid), "user.chatfs.expires"))
	assert.NoError(t, err)
	_, err = getxattrErr(h.path("files", uuid), "user.chatfs.share_secret")
	assert.ErrorIs(t, err, syscall.ENODATA, "unrestricted files carry no secret")

	// Listing shows the file and its thumbnail.
	names := readdirnames(t, h.path("files"))
	assert.ElementsMatch(t, []string{uuid, uuid + ".thumb"}, names)
}

func TestThumbnailBoxIsConfigurable(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "", func(_ *mount.Options, a *config.App) { a.ThumbnailSize = "100x50" })
	require.NoError(t, os.WriteFile(h.path("upload", "wide.png"), testPNG(t, 800, 600), 0o644))
	uuid := h.waitUploaded("wide.png")
	th, err := os.ReadFile(h.path("files", uuid+".thumb"))
	require.NoError(t, err)
	cfg, err := png.DecodeConfig(bytes.NewReader(th))
	require.NoError(t, err)
	assert.LessOrEqual(t, cfg.Width, 100)
	assert.LessOrEqual(t, cfg.Height, 50)
}

func TestServerFileReadsLazilyWithOneDownload(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	data := randomBytes(t, 3<<20)
	res, err := svc.client(t, appID).Upload(context.Background(), remote.UploadRequest{Name: "x.bin", File: bytes.NewReader(data), Size: int64(len(data))})
	require.NoError(t, err)

	st, err := os.Stat(h.path("files", res.UUID))
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), st.Size())

	want := sha256.Sum256(data)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := os.ReadFile(h.path("files", res.UUID))
			assert.NoError(t, err)
			assert.Equal(t, want, sha256.Sum256(got))
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(1), svc.emu.DownloadCount(res.UUID), "eight readers share one download")
	_, err = os.Stat(h.path("files", res.UUID+".thumb"))
	assert.ErrorIs(t, err, os.ErrNotExist, "no thumbnail for non-images")
}

func TestNonUUIDNamesAskNothing(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	before := svc.requests.Load()
	for _, name := range []string{".hidden", ".Trash-1000", "autorun.inf", ".xdg-volume-info", "desktop.ini", ".DS_Store",
		"5FD74830-5706-11E9-A8B3-DD1C5F0A5D2D", "5fd74830-5706-11e9-a8b3-dd1c5f0a5d2", "..", "x.thumb", "Thumbs.db"} {
		_, err := os.Lstat(h.path("files", name))
		if name == ".." {
			continue
		}
		assert.ErrorIs(t, err, os.ErrNotExist, name)
		_, err = os.Lstat(h.path("by-name", name))
		assert.ErrorIs(t, err, os.ErrNotExist, name)
	}
	assert.Equal(t, before, svc.requests.Load(), "no request for names that are not uuids")

	// A well-formed unknown uuid asks once, then is remembered.
	unknown := "5fd74830-5706-11e9-a8b3-dd1c5f0a5d2d"
	_, err := os.Stat(h.path("files", unknown))
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(h.path("files", unknown))
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Equal(t, before+1, svc.requests.Load())
}

func TestTempThenRenameUploadsOnce(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	tmp := h.path("upload", ".report.txt.XXXXXX")
	f, err := os.Create(tmp)
	require.NoError(t, err)
	_, err = f.WriteString("draft")
	require.NoError(t, err)
	require.NoError(t, f.Truncate(0))
	_, err = f.WriteAt([]byte("final text"), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	time.Sleep(300 * time.Millisecond) // longer than the settle delay: a temp name must not upload
	assert.Zero(t, svc.emu.Stats().Uploads)
	require.NoError(t, os.Rename(tmp, h.path("upload", "report.txt")))
	uuid := h.waitUploaded("report.txt")
	got, err := os.ReadFile(h.path("files", uuid))
	require.NoError(t, err)
	assert.Equal(t, "final text", string(got))
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, int64(1), svc.emu.Stats().Uploads)
	assert.Equal(t, []string{"report.txt"}, readdirnames(t, h.path("by-name")))
}

func TestFolderCopyUploadsEveryFile(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	src := t.TempDir()
	want := map[string][]byte{}
	for _, p := range []string{"a.txt", "sub/b.bin", "sub/deeper/c.dat", "sub/d.txt"} {
		full := filepath.Join(src, "album", p)
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		data := randomBytes(t, 1000+len(p)*1000)
		require.NoError(t, os.WriteFile(full, data, 0o644))
		want["album/"+p] = data // by-name/ keeps the folder's shape
	}
	copyTree(t, filepath.Join(src, "album"), h.path("upload", "album"))
	for name, data := range want {
		uuid := h.waitUploaded(name)
		got, err := os.ReadFile(h.path("files", uuid))
		require.NoError(t, err)
		assert.Equal(t, data, got, name)
	}
}

func TestWritePastLimitFailsWithEFBIG(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	f, err := os.Create(h.path("upload", "big.bin"))
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 10*1024*1024))
	require.NoError(t, err)
	_, err = f.Write([]byte{1})
	assert.ErrorIs(t, err, syscall.EFBIG)
	assert.ErrorIs(t, f.Truncate(10*1024*1024+1), syscall.EFBIG)
	require.NoError(t, f.Close())
	require.NoError(t, os.Remove(h.path("upload", "big.bin")))
	time.Sleep(300 * time.Millisecond)
	assert.Zero(t, svc.emu.Stats().Uploads)
}

func TestFilesIsReadOnly(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	require.NoError(t, os.WriteFile(h.path("upload", "r.txt"), []byte("read only"), 0o644))
	uuid := h.waitUploaded("r.txt")
	_, err := os.OpenFile(h.path("files", uuid), os.O_WRONLY, 0)
	assert.ErrorIs(t, err, syscall.EROFS)
	err = os.WriteFile(h.path("files", "new.txt"), []byte("x"), 0o644)
	assert.ErrorIs(t, err, syscall.EROFS)
	assert.ErrorIs(t, os.Mkdir(h.path("files", "d"), 0o755), syscall.EROFS)
	assert.ErrorIs(t, os.Chmod(h.path("files", uuid), 0o666), syscall.EROFS)
	assert.Error(t, syscall.Setxattr(h.path("files", uuid), "user.x", []byte("1"), 0))
}

func TestRmForgetsLocally(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	require.NoError(t, os.WriteFile(h.path("upload", "gone.txt"), []byte("bye"), 0o644))
	uuid := h.waitUploaded("gone.txt")
	require.NoError(t, os.Remove(h.path("by-name", "gone.txt")))
	assert.Empty(t, readdirnames(t, h.path("by-name")))
	assert.Empty(t, readdirnames(t, h.path("files")))
	// Still on the server: looking it up again finds it.
	got, err := os.ReadFile(h.path("files", uuid))
	require.NoError(t, err)
	assert.Equal(t, "bye", string(got))
}

func TestRemountKeepsFilesNamesAndSecrets(t *testing.T) {
	svc := newService(t, emulator.Options{})
	state := t.TempDir()
	h := newHarness(t, svc, state, func(_ *mount.Options, a *config.App) { a.Restrict = true })
	require.NoError(t, os.WriteFile(h.path("upload", "secret.txt"), []byte("for your eyes"), 0o644))
	uuid := h.waitUploaded("secret.txt")
	secret := getxattr(t, h.path("files", uuid), "user.chatfs.share_secret")
	require.NotEmpty(t, secret)
	h.unmount()

	// The server wants the secret.
	_, err := svc.client(t, appID).Download(context.Background(), remote.DownloadRequest{UUID: uuid})
	require.True(t, remote.IsForbidden(err), "%v", err)
	assert.Equal(t, []byte("for your eyes"), serverBytes(t, svc.client(t, appID), uuid, secret, false))

	// Remount with an empty cache: reads go to the server with the secret.
	require.NoError(t, os.RemoveAll(filepath.Join(state, "cache")))
	h2 := newHarness(t, svc, state, func(_ *mount.Options, a *config.App) { a.Restrict = true })
	target, err := os.Readlink(h2.path("by-name", "secret.txt"))
	require.NoError(t, err)
	assert.Equal(t, "../files/"+uuid, target)
	assert.Equal(t, secret, getxattr(t, h2.path("files", uuid), "user.chatfs.share_secret"))
	got, err := os.ReadFile(h2.path("by-name", "secret.txt"))
	require.NoError(t, err)
	assert.Equal(t, "for your eyes", string(got))
}

func TestUploadStateXattrs(t *testing.T) {
	svc := newService(t, emulator.Options{MaxSize: 100})
	h := newHarness(t, svc, "", func(o *mount.Options, a *config.App) { o.SettleDelay = 200 * time.Millisecond })
	// Larger than the server's limit but within ours: the server answers 413.
	require.NoError(t, os.WriteFile(h.path("upload", "big.txt"), bytes.Repeat([]byte("x"), 1000), 0o644))
	assert.Equal(t, "waiting", getxattr(t, h.path("upload", "big.txt"), "user.chatfs.state"))
	eventually(t, 10*time.Second, "the upload to fail", func() bool {
		v, _ := getxattrErr(h.path("upload", "big.txt"), "user.chatfs.state")
		return v == "failed"
	})
	reason := getxattr(t, h.path("upload", "big.txt"), "user.chatfs.error")
	assert.Contains(t, reason, "413")
	// Still there, bytes intact.
	got, err := os.ReadFile(h.path("upload", "big.txt"))
	require.NoError(t, err)
	assert.Len(t, got, 1000)
	// Temporary names have no state.
	require.NoError(t, os.WriteFile(h.path("upload", "x.part"), []byte("p"), 0o644))
	_, err = getxattrErr(h.path("upload", "x.part"), "user.chatfs.state")
	assert.ErrorIs(t, err, syscall.ENODATA)
	_, err = getxattrErr(h.path("upload", "big.txt"), "user.unknown")
	assert.ErrorIs(t, err, syscall.ENODATA)
}

func TestUploadRefusesLinksAndSpecialFiles(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	outside := filepath.Join(t.TempDir(), "outside")
	require.NoError(t, os.WriteFile(outside, []byte("x"), 0o644))
	assert.ErrorIs(t, os.Symlink(outside, h.path("upload", "link")), syscall.EPERM)
	require.NoError(t, os.WriteFile(h.path("upload", ".a"), []byte("x"), 0o644))
	assert.ErrorIs(t, os.Link(h.path("upload", ".a"), h.path("upload", "b")), syscall.EPERM)
	assert.ErrorIs(t, syscall.Mkfifo(h.path("upload", "fifo"), 0o644), syscall.EPERM)
	// Renames out of upload/ cross filesystems.
	err := os.Rename(h.path("upload", ".a"), h.path("files", "x"))
	assert.Error(t, err)
}

func TestOddNames(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	long := strings.Repeat("n", 251) + ".txt" // 255 bytes
	for _, name := range []string{"new\nline.txt", long, "spaces and ü.txt"} {
		require.NoError(t, os.WriteFile(h.path("upload", name), []byte(name), 0o644), "%q", name)
		uuid := h.waitUploaded(name)
		got, err := os.ReadFile(h.path("files", uuid))
		require.NoError(t, err)
		assert.Equal(t, name, string(got))
	}
	err := os.WriteFile(h.path("upload", long+"x"), []byte("x"), 0o644)
	assert.ErrorIs(t, err, syscall.ENAMETOOLONG)
}

func TestSecondMountOnSameStateIsRefused(t *testing.T) {
	svc := newService(t, emulator.Options{})
	state := t.TempDir()
	newHarness(t, svc, state)
	dirs, err := config.StateDirs(state)
	require.NoError(t, err)
	_, err = mount.New(context.Background(), mount.Options{
		Mountpoint: t.TempDir(), Dirs: dirs,
		Apps: []mount.App{{App: config.App{Name: appID, Host: svc.url, AppID: appID}, Tokens: remote.NewStaticToken("x")}},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "in use by another chatfs")
}

func TestUnreachableServerQueuesAndReadsFailPromptly(t *testing.T) {
	svc := newService(t, emulator.Options{})
	data := []byte("queued while offline")
	h := newHarness(t, svc, "", func(o *mount.Options, a *config.App) { a.Host = "http://127.0.0.1:1" })
	require.NoError(t, os.WriteFile(h.path("upload", "offline.txt"), data, 0o644))
	start := time.Now()
	_, err := os.ReadFile(h.path("files", "5fd74830-5706-11e9-a8b3-dd1c5f0a5d2d"))
	assert.ErrorIs(t, err, syscall.EIO)
	assert.Less(t, time.Since(start), 10*time.Second)
	eventually(t, 10*time.Second, "a failed attempt", func() bool {
		v, _ := getxattrErr(h.path("upload", "offline.txt"), "user.chatfs.error")
		return v != ""
	})
	assert.Equal(t, "waiting", getxattr(t, h.path("upload", "offline.txt"), "user.chatfs.state"))
	h.unmount()
	// Back online: the queue resumes at the next mount.
	h2 := newHarness(t, svc, h.state)
	uuid := h2.waitUploaded("offline.txt")
	got, err := os.ReadFile(h2.path("files", uuid))
	require.NoError(t, err)
	assert.Equal(t, data, got)
}

// helpers

func getxattr(t *testing.T, path, name string) string {
	t.Helper()
	v, err := getxattrErr(path, name)
	require.NoError(t, err, "getxattr %s %s", path, name)
	return v
}

func getxattrErr(path, name string) (string, error) {
	buf := make([]byte, 64<<10)
	n, err := syscall.Getxattr(path, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

func readdirnames(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open(dir)
	require.NoError(t, err)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	require.NoError(t, err)
	if names == nil {
		names = []string{}
	}
	return names
}

// copyTree copies a folder the way cp -r does: mkdir, then files.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	}))
}

func TestVideoWithThumbnailSibling(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	video := randomBytes(t, 200_000)
	thumb := testJPEG(t, 160, 90)
	// The video first: it must still wait for its thumbnail.
	require.NoError(t, os.WriteFile(h.path("upload", "clip.mp4"), video, 0o644))
	require.NoError(t, os.WriteFile(h.path("upload", "clip.mp4.thumb.jpg"), thumb, 0o644))
	vid := h.waitUploaded("clip.mp4")
	tid := h.waitUploaded("clip.mp4.thumb.jpg")
	got, err := os.ReadFile(h.path("files", vid+".thumb"))
	require.NoError(t, err)
	assert.Equal(t, thumb, got, "the video's .thumb is its thumbnail image")
	assert.Equal(t, tid, getxattr(t, h.path("files", vid+".thumb"), "user.chatfs.uuid"))
	got, err = os.ReadFile(h.path("files", vid))
	require.NoError(t, err)
	assert.Equal(t, video, got)
}

// TestExpiredFilesDisappear: a file the server answers file_expired for is
// marked expired, reads fail, and listings drop it unless it is cached.
func TestExpiredFilesDisappear(t *testing.T) {
	clock := time.Now()
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	svc := newService(t, emulator.Options{TTL: time.Hour, Now: now})
	state := t.TempDir()
	c := svc.client(t, appID)
	var uuids []string
	for i := 0; i < 2; i++ {
		data := randomBytes(t, 5000)
		res, err := c.Upload(context.Background(), remote.UploadRequest{Name: "e.bin", File: bytes.NewReader(data), Size: 5000})
		require.NoError(t, err)
		uuids = append(uuids, res.UUID)
	}
	h := newHarness(t, svc, state)
	for _, u := range uuids {
		_, err := os.ReadFile(h.path("files", u)) // known and cached
		require.NoError(t, err)
	}
	h.unmount()
	require.NoError(t, os.RemoveAll(filepath.Join(state, "cache"))) // known, not cached
	mu.Lock()
	clock = clock.Add(2 * time.Hour)
	mu.Unlock()

	h2 := newHarness(t, svc, state)
	assert.Len(t, readdirnames(t, h2.path("files")), 2)
	_, err := os.ReadFile(h2.path("files", uuids[0]))
	require.Error(t, err)
	assert.True(t, errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EIO), "%v", err)
	assert.Equal(t, []string{uuids[1]}, readdirnames(t, h2.path("files")), "the expired file left the listing")
	// A uuid never seen, already expired on the server: ENOENT.
	res, err := c.Upload(context.Background(), remote.UploadRequest{Name: "late", File: bytes.NewReader([]byte("x")), Size: 1})
	require.NoError(t, err)
	mu.Lock()
	clock = clock.Add(2 * time.Hour)
	mu.Unlock()
	_, err = os.Stat(h2.path("files", res.UUID))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
