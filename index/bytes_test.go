package index

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oddNames are names a Linux file system accepts that JSON, terminals or
// HTTP headers do not take as they are.
var oddNames = []string{
	"\xff\xfe.bin",
	"caf\xe9.txt", // Latin-1, not UTF-8
	"line\nbreak.txt",
	"carriage\rreturn",
	"esc\x1b[31mred.txt",
	`quote"and\backslash.txt`,
	"tab\there",
	"\x7f\x01\x02",
	"half a rune \xe2\x82.txt",
	strings.Repeat("é", 127) + ".txt", // 258 bytes of valid UTF-8
	"plain.txt",
}

// Queue entries and file records keep any byte string exactly, across a
// reopen: the uploader opens the path it claims, and by-name/ shows the
// name it was given.
func TestOddNamesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	db, err := Open(dir, Options{Logger: quietLogger(), Now: clk.Now})
	require.NoError(t, err)
	for i, name := range oddNames {
		path := "dir\xff/" + name
		require.NoError(t, db.Enqueue("a", path))
		u, ok := claim(t, db, clk.Now())
		require.True(t, ok)
		assert.Equal(t, path, u.Path, "claimed path of %q", name)
		f := File{UUID: uuidN(i), Name: name, ShareSecret: "s\xff", URL: "u"}
		require.NoError(t, db.Complete("a", path, &f))
		assert.Equal(t, name, f.Name)
		if len(name) <= maxName {
			assert.Equal(t, cleanName(name), f.LinkName, "link name of %q", name)
		}
	}
	require.NoError(t, db.Close())

	db = openAt(t, dir, clk)
	var paths []string
	require.NoError(t, db.ListUploads("a", func(u Upload) error {
		paths = append(paths, u.Path)
		assert.Equal(t, Done, u.State)
		return nil
	}))
	require.Len(t, paths, len(oddNames))
	for i, name := range oddNames {
		assert.Contains(t, paths, "dir\xff/"+name)
		u, err := db.GetUpload("a", "dir\xff/"+name)
		require.NoError(t, err)
		assert.Equal(t, "dir\xff/"+name, u.Path)
		got, err := db.Get("a", uuidN(i))
		require.NoError(t, err)
		assert.Equal(t, name, got.Name)
		assert.Equal(t, "s\xff", got.ShareSecret)
		byName, err := db.LookupName("a", got.LinkName)
		require.NoError(t, err)
		assert.Equal(t, uuidN(i), byName.UUID)
	}
	// A waiting entry with such a path is claimed under it after a reopen.
	require.NoError(t, db.Enqueue("a", "w\xfe"))
	u, ok := claim(t, db, clk.Advance(time.Second))
	require.True(t, ok)
	assert.Equal(t, "w\xfe", u.Path)
}

// cleanName changes only '/' and NUL, byte by byte: bytes that are not
// UTF-8 are kept, not replaced by U+FFFD.
func TestCleanNameKeepsBytes(t *testing.T) {
	assert.Equal(t, "\xff\xfe.bin", cleanName("\xff\xfe.bin"))
	assert.Equal(t, "a_b_\xff", cleanName("a/b\x00\xff"))
	assert.Equal(t, "_..", cleanName(".."))
}

// Records whose strings are UTF-8 are stored as plain JSON, as before the
// raw member existed, and old records read back unchanged.
func TestMarshalPlainAndRaw(t *testing.T) {
	f := File{App: "a", UUID: "u", Name: "photo.jpg"}
	b, err := marshal(&f)
	require.NoError(t, err)
	assert.NotContains(t, string(b), `"raw"`)
	f.Name = "\xff.jpg"
	b, err = marshal(&f)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"raw":{"Name":"/y5qcGc="}`)
	var got File
	require.NoError(t, unmarshal(b, &got))
	assert.Equal(t, f, got)
}
