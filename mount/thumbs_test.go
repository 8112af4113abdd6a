//go:build linux

package mount_test

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote/emulator"
	"github.com/chatfs/chatfs/thumbs"
)

// Listing files/ and by-name/ fills the desktop's thumbnail cache from the
// server's thumbnails, per the freedesktop standard, for the images only,
// without downloading any file whole.
func TestDesktopThumbnails(t *testing.T) {
	svc := newService(t, emulator.Options{})
	cacheDir := filepath.Join(t.TempDir(), "xdg-cache", "thumbnails")
	h := newHarness(t, svc, "", func(o *mount.Options, a *config.App) { o.DesktopThumbnails = cacheDir })

	small := image.NewNRGBA(image.Rect(0, 0, 40, 20))
	for i := range small.Pix {
		small.Pix[i] = 200
	}
	var smallPNG bytes.Buffer
	require.NoError(t, png.Encode(&smallPNG, small))
	require.NoError(t, os.WriteFile(h.path("upload", "big photo.jpg"), testJPEG(t, 400, 300), 0o644))
	require.NoError(t, os.WriteFile(h.path("upload", "small.png"), smallPNG.Bytes(), 0o644))
	require.NoError(t, os.WriteFile(h.path("upload", "notes.txt"), []byte("no thumbnail"), 0o644))
	big := h.waitUploaded("big photo.jpg")
	smallID := h.waitUploaded("small.png")
	notes := h.waitUploaded("notes.txt")

	_, err := os.ReadDir(h.path("files"))
	require.NoError(t, err)
	_, err = os.ReadDir(h.path("by-name"))
	require.NoError(t, err)

	want := map[string][2]int{ // path as listed -> thumbnail size
		h.path("files", big):               {128, 96}, // the server's 170×128, scaled to 128
		h.path("files", big+".thumb"):      {128, 96},
		h.path("by-name", "big photo.jpg"): {128, 96},
		h.path("files", smallID):           {40, 20}, // its own thumbnail: never enlarged
		h.path("files", smallID+".thumb"):  {40, 20},
		h.path("by-name", "small.png"):     {40, 20},
	}
	for path, size := range want {
		file := filepath.Join(cacheDir, "normal", thumbs.Name(thumbs.URI(path)))
		eventually(t, 15*time.Second, "thumbnail of "+path, func() bool {
			_, err := os.Stat(file)
			return err == nil
		})
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		cfg, err := png.DecodeConfig(bytes.NewReader(b))
		require.NoError(t, err, path)
		assert.Equal(t, size, [2]int{cfg.Width, cfg.Height}, path)
		text, err := thumbs.ReadText(file)
		require.NoError(t, err)
		var st syscall.Stat_t
		require.NoError(t, syscall.Stat(path, &st)) // follows a by-name/ link, as file managers do
		assert.Equal(t, thumbs.URI(path), text[thumbs.KeyURI], path)
		assert.Equal(t, strconv.FormatInt(st.Mtim.Sec, 10), text[thumbs.KeyMTime], "Thumb::MTime is what stat says: %s", path)
		info, err := os.Stat(file)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	}
	info, err := os.Stat(filepath.Join(cacheDir, "normal"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), info.Mode().Perm())

	// Only those: no thumbnail for the text file, no temp files.
	ents, err := os.ReadDir(filepath.Join(cacheDir, "normal"))
	require.NoError(t, err)
	assert.Len(t, ents, len(want))
	_, err = os.Stat(filepath.Join(cacheDir, "normal", thumbs.Name(thumbs.URI(h.path("files", notes)))))
	assert.True(t, os.IsNotExist(err))

	// Never a whole file: only thumbnails were downloaded.
	assert.Zero(t, svc.emu.DownloadCount(big))
	assert.Zero(t, svc.emu.DownloadCount(smallID))
	assert.LessOrEqual(t, svc.emu.ThumbnailCount(big), int64(1), "the thumbnail is fetched once, through the cache")
	st := h.m.Thumbs.Stats()
	assert.Equal(t, int64(len(want)), st.Written)

	// The next mount finds them up to date and rewrites none.
	h.unmount()
	h.mount(func(o *mount.Options, a *config.App) { o.DesktopThumbnails = cacheDir }) // same state, same mountpoint
	_, err = os.ReadDir(h.path("files"))
	require.NoError(t, err)
	_, err = os.ReadDir(h.path("by-name"))
	require.NoError(t, err)
	eventually(t, 15*time.Second, "the thumbnails found up to date", func() bool {
		return h.m.Thumbs.Stats().UpToDate == int64(len(want))
	})
	assert.Equal(t, thumbs.Stats{UpToDate: int64(len(want))}, h.m.Thumbs.Stats())
}

// --desktop-thumbnails=false: no thumbnail cache at all.
func TestDesktopThumbnailsOff(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	assert.Nil(t, h.m.Thumbs)
	assert.False(t, h.m.Apps[0].DesktopThumbnails())
}
