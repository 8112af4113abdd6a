package core_test

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/thumbs"
)

// Only files with a server thumbnail are offered, their .thumb entries
// too; expired files and files without one are not, and nothing but
// thumbnails is downloaded.
func TestOfferThumbnails(t *testing.T) {
	var p bytes.Buffer
	require.NoError(t, png.Encode(&p, image.NewGray(image.Rect(0, 0, 300, 150))))
	fr := newFakeRemote()
	dir := filepath.Join(t.TempDir(), "thumbnails")
	tc, err := thumbs.New(thumbs.Options{Dir: dir, Logger: quiet})
	require.NoError(t, err)
	e := newEnv(t, fr, func(o *core.Options) { o.DesktopThumbs = tc })
	t.Cleanup(tc.Close) // before the app's, index's and cache's Close
	assert.True(t, e.app.DesktopThumbnails())

	files := []index.File{
		{App: testApp, UUID: lifetimeUUID(1), Size: 9, MIME: "image/png", HasThumb: true, Uploaded: uploadTime},
		{App: testApp, UUID: lifetimeUUID(2), Size: 9, MIME: "text/plain", Uploaded: uploadTime},
		{App: testApp, UUID: lifetimeUUID(3), Size: 9, MIME: "image/png", HasThumb: true, Uploaded: uploadTime, Expired: true},
	}
	var shown []core.Shown
	for _, f := range files {
		require.NoError(t, e.idx.Put(&f))
		fr.files[f.UUID+core.ThumbSuffix] = p.Bytes()
	}
	require.NoError(t, e.app.List(func(en core.Entry) error {
		shown = append(shown, core.Shown{Path: "/m/app/files/" + en.Name(), Entry: en})
		return nil
	}))
	e.app.OfferThumbnails(shown)
	img := "/m/app/files/" + lifetimeUUID(1)
	for _, path := range []string{img, img + core.ThumbSuffix} {
		waitUntil(t, func() bool { _, err := os.Stat(tc.File(path)); return err == nil }, path)
		text, err := thumbs.ReadText(tc.File(path))
		require.NoError(t, err)
		assert.Equal(t, "1740830400", text[thumbs.KeyMTime])
	}
	text, err := thumbs.ReadText(tc.File(img))
	require.NoError(t, err)
	assert.Equal(t, "image/png", text[thumbs.KeyMime])
	assert.Equal(t, "9", text[thumbs.KeySize])
	tc.Close()
	ents, err := os.ReadDir(filepath.Join(dir, "normal"))
	require.NoError(t, err)
	assert.Len(t, ents, 2, "not the text file, not the expired image")
	for _, d := range fr.downloads {
		assert.True(t, d.Thumbnail, "only thumbnails are downloaded: %+v", d)
	}

	off := newEnv(t, newFakeRemote(), nil)
	assert.False(t, off.app.DesktopThumbnails())
	off.app.OfferThumbnails(shown) // a no-op
}
