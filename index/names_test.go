package index

import (
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLinkNameCollisions(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	tests := []struct {
		name string
		want []string // link names of the 1st, 2nd, 3rd file with that name
	}{
		{"photo.jpg", []string{"photo.jpg", "photo (2).jpg", "photo (3).jpg"}},
		{"README", []string{"README", "README (2)", "README (3)"}},
		{".bashrc", []string{".bashrc", ".bashrc (2)", ".bashrc (3)"}},
		{".bashrc.bak", []string{".bashrc.bak", ".bashrc (2).bak", ".bashrc (3).bak"}},
		{"a.tar.gz", []string{"a.tar.gz", "a.tar (2).gz", "a.tar (3).gz"}},
		{"trailing.", []string{"trailing.", "trailing. (2)", "trailing. (3)"}},
		{"a/b.txt", []string{"a_b.txt", "a_b (2).txt", "a_b (3).txt"}},
		{"nul\x00.txt", []string{"nul_.txt", "nul_ (2).txt", "nul_ (3).txt"}},
		{".", []string{"_.", "_. (2)", "_. (3)"}},
		{"..", []string{"_..", "_.. (2)", "_.. (3)"}},
		{"x." + strings.Repeat("e", 40), []string{"x." + strings.Repeat("e", 40), "x." + strings.Repeat("e", 40) + " (2)", "x." + strings.Repeat("e", 40) + " (3)"}},
		{long + ".jpg", []string{
			strings.Repeat("é", 125) + ".jpg", // 250 + 4 bytes: 251 would split a rune
			strings.Repeat("é", 123) + " (2).jpg",
			strings.Repeat("é", 123) + " (3).jpg",
		}},
		{strings.Repeat("b", 300), []string{strings.Repeat("b", 255), strings.Repeat("b", 251) + " (2)", strings.Repeat("b", 251) + " (3)"}},
	}
	db, _ := openTemp(t)
	for i, tt := range tests {
		for j, want := range tt.want {
			f := File{App: "app", UUID: uuidN(i*10 + j), Name: tt.name}
			require.NoError(t, db.Put(&f))
			assert.Equal(t, want, f.LinkName, "%q #%d", tt.name, j+1)
			assert.LessOrEqual(t, len(f.LinkName), maxName)
			assert.True(t, utf8.ValidString(f.LinkName) || !utf8.ValidString(tt.name))
			assert.NotContains(t, f.LinkName, "/")
			got, err := db.LookupName("app", f.LinkName)
			require.NoError(t, err)
			assert.Equal(t, f.UUID, got.UUID)
		}
	}
}

func TestLinkNameProbesPastTakenSuffix(t *testing.T) {
	db, _ := openTemp(t)
	// A file literally named "photo (2).jpg" takes that name first.
	for i, name := range []string{"photo (2).jpg", "photo.jpg", "photo.jpg"} {
		require.NoError(t, db.Put(&File{App: "app", UUID: uuidN(i), Name: name}))
	}
	f, err := db.Get("app", uuidN(2))
	require.NoError(t, err)
	assert.Equal(t, "photo (3).jpg", f.LinkName)
}

func TestLinkNameManyCollisions(t *testing.T) {
	db, _ := openTemp(t)
	for i := range 1000 {
		f := File{App: "app", UUID: uuidN(i), Name: "image.jpg"}
		require.NoError(t, db.Put(&f))
		if i == 999 {
			assert.Equal(t, "image (1000).jpg", f.LinkName)
		}
	}
	n := 0
	require.NoError(t, db.ListNames("app", func(string, string) error { n++; return nil }))
	assert.Equal(t, 1000, n)
}

func TestTruncUTF8(t *testing.T) {
	assert.Equal(t, "ab", truncUTF8("abc", 2))
	assert.Equal(t, "a", truncUTF8("aé", 2))
	assert.Equal(t, "aé", truncUTF8("aé", 3))
	assert.Equal(t, "\xff\xff", truncUTF8("\xff\xff\xff", 2), "not UTF-8: cut anywhere")
	assert.Equal(t, "a\x80", truncUTF8("a\x80\x80\x80\x80\x80", 2))
}

func TestLinkNamesUniqueUnderConcurrentPuts(t *testing.T) {
	db, _ := openTemp(t)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				assert.NoError(t, db.Put(&File{App: "app", UUID: uuidN(w*100 + i), Name: "same.jpg"}))
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	inos := map[uint64]bool{}
	require.NoError(t, db.List("app", func(f File) error {
		assert.False(t, seen[f.LinkName], f.LinkName)
		assert.False(t, inos[f.Ino], f.Ino)
		seen[f.LinkName], inos[f.Ino] = true, true
		return nil
	}))
	assert.Len(t, seen, 160)
	assert.True(t, seen["same.jpg"] && seen["same (160).jpg"])
}
