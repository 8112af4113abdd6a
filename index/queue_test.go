package index

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// claim claims an entry of app "a", the app most tests use.
func claim(t *testing.T, db *DB, now time.Time) (Upload, bool) {
	t.Helper()
	return claimApp(t, db, "a", now)
}

func claimApp(t *testing.T, db *DB, app string, now time.Time) (Upload, bool) {
	t.Helper()
	u, ok, err := db.Claim(app, now)
	require.NoError(t, err)
	return u, ok
}

func counts(t *testing.T, db *DB, app string) [3]int {
	t.Helper()
	w, u, f, err := db.Counts(app)
	require.NoError(t, err)
	return [3]int{w, u, f}
}

func TestEnqueueClaimOrder(t *testing.T) {
	db, clk := openTemp(t)
	// Same instant for all: queue order breaks the tie. Apps are mixed.
	require.NoError(t, db.Enqueue("b", "one"))
	require.NoError(t, db.Enqueue("a", "two"))
	clk.Advance(time.Second)
	require.NoError(t, db.Enqueue("b", "three"))
	require.NoError(t, db.Enqueue("a", "four"))

	u, err := db.GetUpload("a", "two")
	require.NoError(t, err)
	assert.Equal(t, Upload{App: "a", Path: "two", State: Waiting, Updated: clk.Now().Add(-time.Second)}, u)

	// Each app claims only its own entries, in queue order.
	var got []string
	for _, app := range []string{"a", "b"} {
		for {
			u, ok := claimApp(t, db, app, clk.Now())
			if !ok {
				break
			}
			assert.Equal(t, Uploading, u.State)
			got = append(got, u.App+"/"+u.Path)
		}
		if app == "a" {
			assert.Equal(t, [3]int{2, 2, 0}, counts(t, db, ""))
			_, ok := db.NextWake("a")
			assert.False(t, ok)
			_, ok = db.NextWake("b")
			assert.True(t, ok, "b's entries still wait")
		}
	}
	assert.Equal(t, []string{"a/two", "a/four", "b/one", "b/three"}, got)
	assert.Equal(t, [3]int{0, 4, 0}, counts(t, db, ""))
	assert.Equal(t, [3]int{0, 2, 0}, counts(t, db, "a"))
	_, ok := db.NextWake("b")
	assert.False(t, ok)
}

func TestEnqueueResetsEntry(t *testing.T) {
	db, clk := openTemp(t)
	require.NoError(t, db.Enqueue("a", "p"))
	claim(t, db, clk.Now())
	require.NoError(t, db.Fail("a", "p", "too big", true, time.Time{}))
	u, err := db.GetUpload("a", "p")
	require.NoError(t, err)
	assert.Equal(t, Failed, u.State)
	assert.Equal(t, 1, u.Attempts)

	require.NoError(t, db.Enqueue("a", "p"))
	require.NoError(t, db.Enqueue("a", "p")) // twice: still one entry, one w/ key
	u, err = db.GetUpload("a", "p")
	require.NoError(t, err)
	assert.Equal(t, Upload{App: "a", Path: "p", State: Waiting, Updated: clk.Now()}, u)
	assert.Equal(t, [3]int{1, 0, 0}, counts(t, db, "a"))
	_, ok := claim(t, db, clk.Now())
	assert.True(t, ok)
	_, ok = claim(t, db, clk.Now())
	assert.False(t, ok)
}

func TestFailRetryHonoursNotBefore(t *testing.T) {
	db, clk := openTemp(t)
	require.NoError(t, db.Enqueue("a", "p"))
	_, ok := claim(t, db, clk.Now())
	require.True(t, ok)
	retry := clk.Now().Add(time.Minute)
	require.NoError(t, db.Fail("a", "p", "503", false, retry))

	u, err := db.GetUpload("a", "p")
	require.NoError(t, err)
	assert.Equal(t, Waiting, u.State)
	assert.Equal(t, 1, u.Attempts)
	assert.Equal(t, "503", u.Error)
	assert.False(t, u.Permanent)
	assert.True(t, u.NotBefore.Equal(retry))

	wake, ok := db.NextWake("a")
	require.True(t, ok)
	assert.True(t, wake.Equal(retry), "%v", wake)

	// A fresh entry queued meanwhile goes first; the retry waits its time.
	require.NoError(t, db.Enqueue("a", "q"))
	u, ok = claim(t, db, clk.Now())
	require.True(t, ok)
	assert.Equal(t, "q", u.Path)
	_, ok = claim(t, db, clk.Advance(59*time.Second))
	assert.False(t, ok)
	u, ok = claim(t, db, clk.Advance(time.Second))
	require.True(t, ok)
	assert.Equal(t, "p", u.Path)
	assert.Equal(t, "503", u.Error, "error kept for display while retrying")

	require.NoError(t, db.Fail("a", "p", "503 again", false, clk.Now().Add(time.Minute)))
	u, err = db.GetUpload("a", "p")
	require.NoError(t, err)
	assert.Equal(t, 2, u.Attempts)
}

func TestFailPermanent(t *testing.T) {
	db, clk := openTemp(t)
	require.NoError(t, db.Enqueue("a", "p"))
	claim(t, db, clk.Now())
	require.NoError(t, db.Fail("a", "p", "file too large", true, clk.Now()))
	u, err := db.GetUpload("a", "p")
	require.NoError(t, err)
	assert.Equal(t, Failed, u.State)
	assert.True(t, u.Permanent)
	assert.Equal(t, "file too large", u.Error)
	_, ok := claim(t, db, clk.Advance(time.Hour))
	assert.False(t, ok, "failed entries are not claimed")
	assert.Equal(t, [3]int{0, 0, 1}, counts(t, db, "a"))
	assert.ErrorIs(t, db.Fail("a", "nope", "x", true, time.Time{}), ErrNotFound)
}

func TestStaleReportsAreIgnored(t *testing.T) {
	db, clk := openTemp(t)
	require.NoError(t, db.Enqueue("a", "p"))
	claim(t, db, clk.Now())
	require.NoError(t, db.Enqueue("a", "p")) // rewritten during the upload

	require.NoError(t, db.Fail("a", "p", "x", true, time.Time{}))
	f := File{UUID: "u-old", Name: "p"}
	require.NoError(t, db.Complete("a", "p", &f))
	u, err := db.GetUpload("a", "p")
	require.NoError(t, err)
	assert.Equal(t, Waiting, u.State, "new content still to upload")
	_, err = db.Get("a", "u-old")
	assert.NoError(t, err, "the upload that happened is recorded")
}

func TestCompleteIsAtomic(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	db, err := Open(dir, Options{Logger: quietLogger(), Now: clk.Now})
	require.NoError(t, err)
	require.NoError(t, db.Enqueue("a", "dir/photo.jpg"))
	claim(t, db, clk.Now())
	f := File{UUID: "u1", Name: "photo.jpg", Size: 10, ShareSecret: "s"}
	require.NoError(t, db.Complete("a", "dir/photo.jpg", &f))
	assert.Equal(t, "a", f.App)
	assert.NotZero(t, f.Ino)
	assert.Equal(t, "photo.jpg", f.LinkName)

	check := func(db *DB) {
		got, err := db.Get("a", "u1")
		require.NoError(t, err)
		assert.Equal(t, f, got)
		u, err := db.GetUpload("a", "dir/photo.jpg")
		require.NoError(t, err)
		assert.Equal(t, Done, u.State)
		assert.Equal(t, "u1", u.UUID)
		assert.Equal(t, [3]int{0, 0, 0}, counts(t, db, "a"))
		_, ok := claim(t, db, clk.Advance(time.Hour))
		assert.False(t, ok)
	}
	check(db)
	require.NoError(t, db.Close())
	check(openAt(t, dir, clk))

	bad := File{App: "b", UUID: "u2"}
	assert.Error(t, db.Complete("a", "x", &bad))
}

func TestRemove(t *testing.T) {
	db, clk := openTemp(t)
	require.NoError(t, db.Enqueue("a", "p"))
	require.NoError(t, db.Remove("a", "p"))
	require.NoError(t, db.Remove("a", "p"))
	_, err := db.GetUpload("a", "p")
	assert.ErrorIs(t, err, ErrNotFound)
	_, ok := claim(t, db, clk.Now())
	assert.False(t, ok)
	_, ok = db.NextWake("a")
	assert.False(t, ok)
}

func TestRenameFile(t *testing.T) {
	db, clk := openTemp(t)
	require.NoError(t, db.Enqueue("a", ".photo.jpg.part"))
	require.NoError(t, db.Enqueue("a", "photo.jpg")) // replaced by the rename
	require.NoError(t, db.Rename("a", ".photo.jpg.part", "photo.jpg"))
	_, err := db.GetUpload("a", ".photo.jpg.part")
	assert.ErrorIs(t, err, ErrNotFound)
	u, err := db.GetUpload("a", "photo.jpg")
	require.NoError(t, err)
	assert.Equal(t, Waiting, u.State)
	assert.Equal(t, [3]int{1, 0, 0}, counts(t, db, "a"))

	u, ok := claim(t, db, clk.Now())
	require.True(t, ok)
	assert.Equal(t, "photo.jpg", u.Path)
	_, ok = claim(t, db, clk.Now())
	assert.False(t, ok)

	// Renamed while uploading: queued again under the new name; the old
	// upload's report finds nothing.
	require.NoError(t, db.Rename("a", "photo.jpg", "holiday.jpg"))
	assert.ErrorIs(t, db.Fail("a", "photo.jpg", "x", true, time.Time{}), ErrNotFound)
	u, ok = claim(t, db, clk.Now())
	require.True(t, ok)
	assert.Equal(t, "holiday.jpg", u.Path)

	require.NoError(t, db.Rename("a", "missing", "other"))
	assert.Error(t, db.Rename("a", "d", "d/e"))
	assert.Error(t, db.Rename("a", "d/e", "d"))
}

func TestRenameDirectory(t *testing.T) {
	db, clk := openTemp(t)
	for _, p := range []string{"d/a", "d/sub/b", "d/sub/c", "dx/not-under", "d"} {
		require.NoError(t, db.Enqueue("a", p))
	}
	require.NoError(t, db.Enqueue("other", "d/a"))
	claim(t, db, clk.Now()) // d/a is Uploading
	require.NoError(t, db.Enqueue("a", "e/sub/b"))
	clk.Advance(time.Second)
	require.NoError(t, db.Rename("a", "d", "e"))

	var paths []string
	states := map[string]UploadState{}
	require.NoError(t, db.ListUploads("a", func(u Upload) error {
		paths = append(paths, u.Path)
		states[u.Path] = u.State
		return nil
	}))
	assert.Equal(t, []string{"dx/not-under", "e", "e/a", "e/sub/b", "e/sub/c"}, paths)
	for _, p := range paths {
		assert.Equal(t, Waiting, states[p], p)
	}
	var all []string
	require.NoError(t, db.ListUploads("", func(u Upload) error {
		all = append(all, u.App+":"+u.Path)
		return nil
	}))
	assert.Equal(t, []string{"a:dx/not-under", "a:e", "a:e/a", "a:e/sub/b", "a:e/sub/c", "other:d/a"}, all)

	// Every w/ key points at a live entry: claims return exactly the entries.
	var claimed []string
	for _, app := range []string{"a", "other"} {
		for {
			u, ok := claimApp(t, db, app, clk.Now())
			if !ok {
				break
			}
			claimed = append(claimed, u.App+":"+u.Path)
		}
	}
	sort.Strings(claimed)
	assert.Equal(t, all, claimed)
}

func TestReopenRecoversUploading(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	db, err := Open(dir, Options{Logger: quietLogger(), Now: clk.Now})
	require.NoError(t, err)
	for _, p := range []string{"up", "done", "failed", "waiting"} {
		require.NoError(t, db.Enqueue("a", p))
	}
	for range 3 {
		claim(t, db, clk.Now())
	}
	require.NoError(t, db.Complete("a", "done", &File{UUID: "u-done", Name: "done"}))
	require.NoError(t, db.Fail("a", "failed", "bad", true, time.Time{}))
	require.NoError(t, db.Close()) // "up" is left Uploading, as by a crash

	clk.Advance(time.Minute)
	db = openAt(t, dir, clk)
	want := map[string]UploadState{"up": Waiting, "done": Done, "failed": Failed, "waiting": Waiting}
	require.NoError(t, db.ListUploads("a", func(u Upload) error {
		assert.Equal(t, want[u.Path], u.State, u.Path)
		return nil
	}))
	u, ok := claim(t, db, clk.Now())
	require.True(t, ok)
	assert.Equal(t, "up", u.Path, "recovered entry keeps its place")
	u, ok = claim(t, db, clk.Now())
	require.True(t, ok)
	assert.Equal(t, "waiting", u.Path)
}

func TestConcurrentEnqueueClaim(t *testing.T) {
	db, clk := openTemp(t)
	const workers, perWorker = 8, 50
	var (
		mu      sync.Mutex
		claimed = map[string]int{}
		wg      sync.WaitGroup
	)
	claimAll := func() {
		for {
			any := false
			for _, app := range []string{"app0", "app1"} {
				u, ok, err := db.Claim(app, clk.Now())
				if !assert.NoError(t, err) || !ok {
					continue
				}
				any = true
				mu.Lock()
				claimed[u.App+"/"+u.Path]++
				mu.Unlock()
			}
			if !any {
				return
			}
		}
	}
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				assert.NoError(t, db.Enqueue(fmt.Sprintf("app%d", w%2), fmt.Sprintf("w%d/f%d", w, i)))
				if i%5 == 0 {
					claimAll()
				}
			}
			claimAll()
		})
	}
	wg.Wait()
	claimAll()
	require.Len(t, claimed, workers*perWorker)
	for k, n := range claimed {
		assert.Equal(t, 1, n, k)
	}
	assert.Equal(t, [3]int{0, workers * perWorker, 0}, counts(t, db, ""))
}

func TestQueueRejectsBadKeys(t *testing.T) {
	db, _ := openTemp(t)
	assert.Error(t, db.Enqueue("", "p"))
	assert.Error(t, db.Enqueue("a", ""))
	assert.Error(t, db.Enqueue("a\x00", "p"))
	assert.Error(t, db.Enqueue("a", "p\x00q"))
	assert.Error(t, db.ListUploads("a\x00", func(Upload) error { return nil }))
}
