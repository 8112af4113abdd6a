package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/index"
)

// seedState records files in the index of a state directory, as mounts
// would have, and returns them.
func seedState(t *testing.T, state string) []index.File {
	t.Helper()
	dir, err := indexDir(state)
	require.NoError(t, err)
	db, err := index.Open(dir, index.Options{Logger: discard()})
	require.NoError(t, err)
	up := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	files := []index.File{
		{App: demoApp, UUID: "5fd74830-5796-11e9-9ed2-2b3b4c4a1e5f", Name: "photo.jpg", Size: 3, URL: "http://h/chatfiles/5fd7",
			ShareSecret: "secret-one", Uploaded: up, Expires: up.Add(7 * 24 * time.Hour)},
		{App: demoApp, UUID: "5fd74830-5796-11e9-9ed2-2b3b4c4a1e60", Name: "\xff\xfe.bin", Size: 1, ShareSecret: "secret-two"},
		{App: "other", UUID: "5fd74830-5796-11e9-9ed2-2b3b4c4a1e61", Name: "esc\x1b.txt", Size: 0},
		{App: demoApp, UUID: "5fd74830-5796-11e9-9ed2-2b3b4c4a1e62", Name: "in.txt", Folder: "album/2024", Size: 2},
		{App: demoApp, UUID: "5fd74830-5796-11e9-9ed2-2b3b4c4a1e63", Name: "raw.txt", Folder: "caf\xe9", Size: 2},
	}
	for i := range files {
		require.NoError(t, db.Put(&files[i]))
	}
	require.NoError(t, db.Close())
	return files
}

func parseExport(t *testing.T, out string) map[string]exported {
	t.Helper()
	got := map[string]exported{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var e exported
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e), sc.Text())
		got[e.UUID] = e
	}
	return got
}

func checkExport(t *testing.T, out string, want []index.File) {
	t.Helper()
	got := parseExport(t, out)
	require.Len(t, got, len(want))
	for _, w := range want {
		e := got[w.UUID]
		assert.Equal(t, w.App, e.App)
		assert.Equal(t, w.ShareSecret, e.ShareSecret)
		assert.Equal(t, w.URL, e.URL)
		assert.Equal(t, w.Size, e.Size)
		assert.True(t, w.Uploaded.Equal(e.Uploaded))
		if e.NameBase64 != "" {
			b, err := base64.StdEncoding.DecodeString(e.NameBase64)
			require.NoError(t, err)
			assert.Equal(t, w.Name, string(b), "exact bytes")
		} else {
			assert.Equal(t, w.Name, e.Name)
		}
		if e.FolderB64 != "" {
			b, err := base64.StdEncoding.DecodeString(e.FolderB64)
			require.NoError(t, err)
			assert.Equal(t, w.Folder, string(b), "exact bytes")
		} else {
			assert.Equal(t, w.Folder, e.Folder, "the folder it came from")
		}
	}
}

// chatfs export writes every record with its share-secret, with no mount
// running and while one holds the state; a damaged index makes chatfs
// mount refuse, naming the commands that save and rebuild the records;
// chatfs repair rebuilds it.
func TestExportAndRepair(t *testing.T) {
	state := t.TempDir()
	want := seedState(t, state)

	code, out, errOut := runCmd("export", "--state", state)
	require.Equal(t, 0, code, errOut)
	assert.Empty(t, errOut)
	checkExport(t, out, want)

	// While the index is held (as by a mount), the record log is exported.
	dir, err := indexDir(state)
	require.NoError(t, err)
	db, err := index.Open(dir, index.Options{Logger: discard()})
	require.NoError(t, err)
	code, out, errOut = runCmd("export", "--state", state)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "a mount is using")
	checkExport(t, out, want)
	code, _, errOut = runCmd("repair", "--state", state)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "unmount it first")
	require.NoError(t, db.Close())

	st, err := os.Stat(index.RecordLogPath(dir))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	code, out, _ = runCmd("repair", "--state", state)
	require.Equal(t, 0, code)
	assert.Contains(t, out, "not damaged")

	require.NoError(t, os.Remove(filepath.Join(dir, "MANIFEST")))
	code, _, errOut = runCmd("mount", "--state", state, t.TempDir())
	require.Equal(t, 1, code, errOut)
	assert.Contains(t, errOut, "MANIFEST is missing")
	assert.Contains(t, errOut, "chatfs export --state "+state)
	assert.Contains(t, errOut, "chatfs repair --state "+state)
	assert.NotContains(t, errOut, "secret-")

	code, out, errOut = runCmd("export", "--state", state)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, errOut, "damaged")
	checkExport(t, out, want)

	code, out, errOut = runCmd("repair", "--state", state)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "5 records")
	assert.Contains(t, out, "kept in "+dir+".damaged-")

	db, err = index.Open(dir, index.Options{Logger: discard()})
	require.NoError(t, err)
	for _, w := range want {
		f, err := db.Get(w.App, w.UUID)
		require.NoError(t, err)
		assert.Equal(t, w.Name, f.Name)
		assert.Equal(t, w.Folder, f.Folder)
		assert.Equal(t, w.ShareSecret, f.ShareSecret)
		if w.Folder == "album/2024" {
			assert.Equal(t, "album/2024/in.txt", f.LinkName, "the link is back in its folder")
		}
	}
	require.NoError(t, db.Close())

	code, _, errOut = runCmd("export", "--state", t.TempDir())
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no chatfs index")
}
