//go:build linux

package mount_test

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote/emulator"
)

// A listing answers the kernel's READDIRPLUS lookups from the records it
// read (fs/listing.go): what ls -l shows of each entry must be what a
// lookup by name shows, and rewinddir must list again.
func TestListingShowsWhatLookupShows(t *testing.T) {
	svc := newService(t, emulator.Options{})
	h := newHarness(t, svc, "")
	img := testPNG(t, 300, 200)
	txt := randomBytes(t, 5000)
	require.NoError(t, os.WriteFile(h.path("upload", "photo.png"), img, 0o644))
	require.NoError(t, os.WriteFile(h.path("upload", "notes.txt"), txt, 0o644))
	photo, notes := h.waitUploaded("photo.png"), h.waitUploaded("notes.txt")

	dir, err := os.Open(h.path("files"))
	require.NoError(t, err)
	defer dir.Close()
	entries, err := dir.ReadDir(-1)
	require.NoError(t, err)
	sizes := map[string]int64{}
	for _, e := range entries {
		info, err := e.Info()
		require.NoError(t, err)
		want := os.FileMode(0o644) // the owner may set user.chatfs.lifetime
		if strings.HasSuffix(e.Name(), ".thumb") {
			want = 0o444
		}
		assert.Equal(t, want, info.Mode(), e.Name())
		sizes[e.Name()] = info.Size()
	}
	thumb, err := os.ReadFile(h.path("files", photo+".thumb"))
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{photo: int64(len(img)), photo + ".thumb": int64(len(thumb)), notes: int64(len(txt))}, sizes)

	_, err = dir.Seek(0, io.SeekStart)
	require.NoError(t, err)
	again, err := dir.Readdirnames(-1)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{photo, photo + ".thumb", notes}, again)

	links, err := os.ReadDir(h.path("by-name"))
	require.NoError(t, err)
	got := map[string]string{}
	for _, e := range links {
		info, err := e.Info()
		require.NoError(t, err)
		target, err := os.Readlink(h.path("by-name", e.Name()))
		require.NoError(t, err)
		assert.Equal(t, int64(len(target)), info.Size())
		assert.Equal(t, os.ModeSymlink, info.Mode().Type())
		got[e.Name()] = target
	}
	assert.Equal(t, map[string]string{"photo.png": "../files/" + photo, "notes.txt": "../files/" + notes}, got)
}
