package index

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func uuidN(i int) string { return fmt.Sprintf("%08d-0000-4000-8000-000000000000", i) }

func TestPutGet(t *testing.T) {
	db, _ := openTemp(t)
	up := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	f := File{App: "app", UUID: "u1", Name: "photo.jpg", ShareSecret: "s", URL: "https://h/chatfiles/u1",
		Size: 42, MIME: "image/jpeg", Uploaded: up, Expires: up.Add(7 * 24 * time.Hour), HasThumb: true}
	require.NoError(t, db.Put(&f))
	assert.Equal(t, uint64(inoBase), f.Ino, "first inode")
	assert.Equal(t, "photo.jpg", f.LinkName)

	got, err := db.Get("app", "u1")
	require.NoError(t, err)
	assert.Equal(t, f, got)

	_, err = db.Get("app", "nope")
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = db.Get("other", "u1")
	assert.ErrorIs(t, err, ErrNotFound)

	// Updating keeps Ino and LinkName whatever the caller sends.
	upd := f
	upd.Ino, upd.LinkName, upd.Name, upd.Size = 7, "x", "renamed.jpg", 43
	require.NoError(t, db.Put(&upd))
	assert.Equal(t, f.Ino, upd.Ino)
	assert.Equal(t, "photo.jpg", upd.LinkName)
	got, err = db.Get("app", "u1")
	require.NoError(t, err)
	assert.Equal(t, int64(43), got.Size)
	assert.Equal(t, "renamed.jpg", got.Name)

	// A record first known without a name gets a link once it has one.
	anon := File{App: "app", UUID: "u2"}
	require.NoError(t, db.Put(&anon))
	assert.Empty(t, anon.LinkName)
	assert.Equal(t, f.Ino+inoStep, anon.Ino)
	anon.Name = "later.txt"
	require.NoError(t, db.Put(&anon))
	assert.Equal(t, "later.txt", anon.LinkName)
}

func TestPutRejectsBadKeys(t *testing.T) {
	db, _ := openTemp(t)
	for _, f := range []File{{UUID: "u"}, {App: "a"}, {App: "a\x00b", UUID: "u"}, {App: "a", UUID: "u\x00"}} {
		assert.Error(t, db.Put(&f), "%q/%q", f.App, f.UUID)
	}
}

func TestAppsAreSeparate(t *testing.T) {
	db, _ := openTemp(t)
	// "a" must not see "ab"'s records even though one name prefixes the other.
	require.NoError(t, db.Put(&File{App: "a", UUID: "u1", Name: "n"}))
	require.NoError(t, db.Put(&File{App: "ab", UUID: "u2", Name: "n"}))
	require.NoError(t, db.Put(&File{App: "a b/\xff", UUID: "u3", Name: "n"}))
	for app, want := range map[string]string{"a": "u1", "ab": "u2", "a b/\xff": "u3"} {
		n, err := db.Count(app)
		require.NoError(t, err)
		assert.Equal(t, 1, n, app)
		f, err := db.LookupName(app, "n")
		require.NoError(t, err)
		assert.Equal(t, want, f.UUID)
	}
}

func TestListOrderAndStop(t *testing.T) {
	db, _ := openTemp(t)
	for _, i := range []int{5, 3, 9, 1, 7} {
		require.NoError(t, db.Put(&File{App: "app", UUID: uuidN(i)}))
	}
	require.NoError(t, db.Put(&File{App: "zz", UUID: uuidN(0)}))
	var got []string
	require.NoError(t, db.List("app", func(f File) error {
		got = append(got, f.UUID)
		return nil
	}))
	assert.Equal(t, []string{uuidN(1), uuidN(3), uuidN(5), uuidN(7), uuidN(9)}, got)

	stop := errors.New("stop")
	n := 0
	err := db.List("app", func(File) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 2, n)

	c, err := db.Count("app")
	require.NoError(t, err)
	assert.Equal(t, 5, c)
}

func TestListCallbackMayWrite(t *testing.T) {
	db, _ := openTemp(t)
	for i := range 20 {
		require.NoError(t, db.Put(&File{App: "app", UUID: uuidN(i)}))
	}
	n := 0
	require.NoError(t, db.List("app", func(f File) error {
		n++
		return db.Forget("app", f.UUID) // sees the snapshot, not its own deletes
	}))
	assert.Equal(t, 20, n)
	c, err := db.Count("app")
	require.NoError(t, err)
	assert.Zero(t, c)
}

func TestForgetFreesName(t *testing.T) {
	db, _ := openTemp(t)
	a := File{App: "app", UUID: "ua", Name: "photo.jpg"}
	b := File{App: "app", UUID: "ub", Name: "photo.jpg"}
	require.NoError(t, db.Put(&a))
	require.NoError(t, db.Put(&b))
	assert.Equal(t, "photo (2).jpg", b.LinkName)

	require.NoError(t, db.Forget("app", "ua"))
	_, err := db.Get("app", "ua")
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = db.LookupName("app", "photo.jpg")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorIs(t, db.Forget("app", "ua"), ErrNotFound)

	c := File{App: "app", UUID: "uc", Name: "photo.jpg"}
	require.NoError(t, db.Put(&c))
	assert.Equal(t, "photo.jpg", c.LinkName, "freed name is reused")

	var names []string
	require.NoError(t, db.ListNames("app", func(name, uuid string) error {
		names = append(names, name+"="+uuid)
		return nil
	}))
	assert.Equal(t, []string{"photo (2).jpg=ub", "photo.jpg=uc"}, names)
}

func TestMarkExpired(t *testing.T) {
	db, _ := openTemp(t)
	now := time.Now().Truncate(time.Second)
	require.NoError(t, db.Put(&File{App: "app", UUID: "u", Name: "n", Expires: now.Add(7 * 24 * time.Hour)}))
	require.NoError(t, db.MarkExpired("app", "u", now))
	f, err := db.Get("app", "u")
	require.NoError(t, err)
	assert.True(t, f.Expired)
	assert.Equal(t, "n", f.LinkName)
	assert.True(t, now.Equal(f.Expires), "expired earlier than expected: the expiry time is corrected, %v", f.Expires)
	require.NoError(t, db.MarkExpired("app", "u", now.Add(time.Hour)))
	f, err = db.Get("app", "u")
	require.NoError(t, err)
	assert.True(t, now.Equal(f.Expires), "a later answer does not move it")
	assert.ErrorIs(t, db.MarkExpired("app", "nope", now), ErrNotFound)
}

func TestInodesUnique(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	seen := map[uint64]bool{}
	for round := range 3 {
		db, err := Open(dir, Options{Logger: quietLogger(), Now: clk.Now})
		require.NoError(t, err)
		for i := range 100 {
			f := File{App: "app", UUID: uuidN(round*1000 + i)}
			require.NoError(t, db.Put(&f))
			for _, ino := range []uint64{f.Ino, f.Ino + 1, f.Ino + 2} {
				assert.False(t, seen[ino], "inode %d reused", ino)
				seen[ino] = true
			}
			assert.GreaterOrEqual(t, f.Ino, uint64(inoBase))
		}
		require.NoError(t, db.Close())
	}
}

func TestSetExpiry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	clk := newClock()
	db := openAt(t, dir, clk)
	now := clk.Now()
	require.NoError(t, db.Put(&File{App: "app", UUID: uuidN(1), Name: "n", Size: 3, Expires: now.Add(time.Hour)}))

	f, err := db.SetExpiry("app", uuidN(1), now.Add(time.Hour), true)
	require.NoError(t, err)
	assert.True(t, f.Forever)
	assert.True(t, f.Expires.IsZero(), "forever has no expiry time")
	got, err := db.Get("app", uuidN(1))
	require.NoError(t, err)
	assert.Equal(t, f, got)
	assert.Equal(t, "n", got.LinkName, "other fields are kept")
	assert.Equal(t, int64(3), got.Size)

	// The record log keeps it: a rebuilt index still knows.
	require.NoError(t, db.Close())
	_, err = Rebuild(dir, Options{Logger: quietLogger()})
	require.NoError(t, err)
	db = openAt(t, dir, clk)
	got, err = db.Get("app", uuidN(1))
	require.NoError(t, err)
	assert.True(t, got.Forever)

	f, err = db.SetExpiry("app", uuidN(1), now.Add(2*time.Hour), false)
	require.NoError(t, err)
	assert.False(t, f.Forever)
	assert.True(t, now.Add(2*time.Hour).Equal(f.Expires))

	// The server's file_expired wins over forever.
	_, err = db.SetExpiry("app", uuidN(1), time.Time{}, true)
	require.NoError(t, err)
	require.NoError(t, db.MarkExpired("app", uuidN(1), now))
	got, err = db.Get("app", uuidN(1))
	require.NoError(t, err)
	assert.False(t, got.Forever)
	assert.True(t, got.Expired)

	_, err = db.SetExpiry("app", uuidN(2), now, false)
	assert.ErrorIs(t, err, ErrNotFound)
}

// Changes grows with every committed write (records and queue alike) and
// with nothing else, so a listing may keep a copy while it stays the same.
func TestChangesCountsCommittedWrites(t *testing.T) {
	t.Parallel()
	db, clk := openTemp(t)
	seen := db.Changes()
	grew := func(what string) {
		t.Helper()
		now := db.Changes()
		require.Greater(t, now, seen, what)
		seen = now
	}
	f := File{App: "a", UUID: "u1", Name: "x.txt", Size: 1}
	require.NoError(t, db.Put(&f))
	grew("Put")
	_, err := db.Get("a", "u1")
	require.NoError(t, err)
	require.NoError(t, db.List("a", func(File) error { return nil }))
	_, err = db.LookupName("a", "x.txt")
	require.NoError(t, err)
	_, err = db.Count("a")
	require.NoError(t, err)
	require.Equal(t, seen, db.Changes(), "reads change nothing")
	require.NoError(t, db.MarkExpired("a", "u1", clk.Now()))
	grew("MarkExpired")
	require.NoError(t, db.Forget("a", "u1"))
	grew("Forget")
	require.ErrorIs(t, db.Forget("a", "u1"), ErrNotFound)
	require.Equal(t, seen, db.Changes(), "a failed write changes nothing")
	require.NoError(t, db.Enqueue("a", "up.txt"))
	grew("Enqueue")
}
