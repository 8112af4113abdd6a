package core_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/internal/testutil"
	"github.com/chatfs/chatfs/remote"
)

// fakeLifetime is a core.LifetimeSetter that records its calls; answer, if
// set, decides each call's outcome and may block.
type fakeLifetime struct {
	answer func(ctx context.Context, n int, lifetime string, ids []string) (map[string]bool, error)

	mu    sync.Mutex
	calls [][]string // ids of each call, in order. GUARDED_BY(mu)
	users []string   // GUARDED_BY(mu)
}

func (f *fakeLifetime) SetLifetime(ctx context.Context, user, lifetime string, ids []string) (map[string]bool, error) {
	f.mu.Lock()
	f.calls = append(f.calls, append([]string(nil), ids...))
	f.users = append(f.users, user)
	n := len(f.calls)
	f.mu.Unlock()
	if f.answer != nil {
		return f.answer(ctx, n, lifetime, ids)
	}
	return allOK(ids), nil
}

func (f *fakeLifetime) sizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for _, c := range f.calls {
		out = append(out, len(c))
	}
	return out
}

func allOK(ids []string) map[string]bool {
	ok := map[string]bool{}
	for _, id := range ids {
		ok[id] = true
	}
	return ok
}

func lifetimeUUID(i int) string { return fmt.Sprintf("5fd74830-0000-4000-8000-%012d", i) }

// lifetimeEnv is an app with n recorded files (uploaded, with URLs) and
// a fake lifetime API.
func lifetimeEnv(t *testing.T, fl *fakeLifetime, n int) (*env, []core.Entry) {
	e := newEnv(t, newFakeRemote(), func(o *core.Options) {
		o.Retention = time.Hour
		if fl != nil {
			o.Lifetime = fl
		}
	})
	var entries []core.Entry
	for i := range n {
		f := index.File{App: testApp, UUID: lifetimeUUID(i), Name: fmt.Sprintf("f%d.txt", i), Size: 1,
			URL: "https://chat.example/org/app/chatfiles/" + lifetimeUUID(i), Uploaded: uploadTime, Expires: uploadTime.Add(time.Hour)}
		require.NoError(t, e.idx.Put(&f))
		en, err := e.app.Lookup(context.Background(), f.UUID)
		require.NoError(t, err)
		entries = append(entries, en)
	}
	return e, entries
}

func expiresXattr(t *testing.T, e *env, en core.Entry) string {
	t.Helper()
	xs, err := e.app.Xattrs(context.Background(), en, false)
	require.NoError(t, err)
	for _, x := range xs {
		if x.Name == "user.chatfs.expires" {
			return x.Value
		}
	}
	return ""
}

func TestSetLifetimeRecordsExpiry(t *testing.T) {
	fl := &fakeLifetime{}
	e, en := lifetimeEnv(t, fl, 1)
	ctx := context.Background()
	assert.Equal(t, uploadTime.Add(time.Hour).Format(time.RFC3339), expiresXattr(t, e, en[0]))

	require.NoError(t, e.app.SetLifetime(ctx, en[0], "forever"))
	assert.Equal(t, "never", expiresXattr(t, e, en[0]))

	before := e.clock.Now()
	require.NoError(t, e.app.SetLifetime(ctx, en[0], "refresh"))
	exp, err := time.Parse(time.RFC3339, expiresXattr(t, e, en[0]))
	require.NoError(t, err)
	assert.WithinDuration(t, before.Add(time.Hour), exp, 2*time.Second, "refresh: retention from now")

	require.NoError(t, e.app.SetLifetime(ctx, en[0], "default"))
	assert.Equal(t, uploadTime.Add(time.Hour).Format(time.RFC3339), expiresXattr(t, e, en[0]), "default: from the upload")
	assert.Equal(t, []string{"admin", "admin", "admin"}, fl.users)

	for _, bad := range []string{"", "Forever", "forever\n", "never", "refresh please"} {
		err := e.app.SetLifetime(ctx, en[0], bad)
		assert.ErrorIs(t, err, core.ErrInvalid, "%q", bad)
		assert.True(t, core.IsInvalid(err))
	}
	assert.Len(t, fl.sizes(), 3, "invalid values never reach the service")
}

func TestSetLifetimeUserAndThumbnailFile(t *testing.T) {
	fl := &fakeLifetime{}
	e := newEnv(t, newFakeRemote(), func(o *core.Options) { o.Lifetime, o.LifetimeUser = fl, "ops" })
	thumb := index.File{App: testApp, UUID: lifetimeUUID(2), Name: "clip.mp4.thumb.jpg", Size: 1, URL: "u", Uploaded: uploadTime}
	video := index.File{App: testApp, UUID: lifetimeUUID(1), Name: "clip.mp4", Size: 1, URL: "u", Uploaded: uploadTime,
		ThumbUUID: thumb.UUID}
	require.NoError(t, e.idx.Put(&thumb))
	require.NoError(t, e.idx.Put(&video))
	en, err := e.app.Lookup(context.Background(), video.UUID)
	require.NoError(t, err)
	require.NoError(t, e.app.SetLifetime(context.Background(), en, "forever"))
	assert.Equal(t, [][]string{{video.UUID, thumb.UUID}}, fl.calls, "the video's thumbnail file is kept with it")
	assert.Equal(t, []string{"ops"}, fl.users)
	for _, u := range []string{video.UUID, thumb.UUID} {
		f, err := e.idx.Get(testApp, u)
		require.NoError(t, err)
		assert.True(t, f.Forever, u)
	}
}

func TestSetLifetimeErrors(t *testing.T) {
	ctx := context.Background()
	forbidden := &remote.Error{Op: "lifetime", Status: 403, Code: "forbidden_op"}
	var logs testutil.SyncBuffer
	fl := &fakeLifetime{answer: func(ctx context.Context, n int, lifetime string, ids []string) (map[string]bool, error) {
		switch lifetime {
		case "forever":
			return nil, forbidden
		case "refresh":
			return nil, &remote.Error{Op: "lifetime", Status: 400, Code: "illegal_argument"}
		}
		return map[string]bool{ids[0]: false}, nil
	}}
	e := newEnv(t, newFakeRemote(), func(o *core.Options) {
		o.Lifetime = fl
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	f := index.File{App: testApp, UUID: lifetimeUUID(1), Size: 1}
	require.NoError(t, e.idx.Put(&f))
	en, err := e.app.Lookup(ctx, f.UUID)
	require.NoError(t, err)

	for range 3 {
		err := e.app.SetLifetime(ctx, en, "forever")
		assert.ErrorIs(t, err, core.ErrNotSupported)
		assert.True(t, core.IsNotSupported(err))
		assert.False(t, core.IsRefused(err), "not an EACCES")
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "lifetime API"), "said once, not per call: %s", logs.String())

	err = e.app.SetLifetime(ctx, en, "refresh")
	assert.True(t, core.IsInvalid(err), "%v", err)

	err = e.app.SetLifetime(ctx, en, "default")
	assert.ErrorIs(t, err, core.ErrLifetimeFailed)
	got, err := e.idx.Get(testApp, f.UUID)
	require.NoError(t, err)
	assert.False(t, got.Forever)

	// No lifetime API at all.
	n := newEnv(t, newFakeRemote(), nil)
	require.NoError(t, n.idx.Put(&f))
	en, err = n.app.Lookup(ctx, f.UUID)
	require.NoError(t, err)
	assert.ErrorIs(t, n.app.SetLifetime(ctx, en, "forever"), core.ErrNotSupported)
}

// Concurrent requests are joined: while one call is in flight the others
// gather, and go in calls of at most 100 ids.
func TestSetLifetimeBatches(t *testing.T) {
	first := newGate()
	started := make(chan struct{})
	fl := &fakeLifetime{answer: func(ctx context.Context, n int, lifetime string, ids []string) (map[string]bool, error) {
		if n == 1 {
			close(started)
			if err := first.wait(ctx); err != nil {
				return nil, err
			}
		}
		return allOK(ids), nil
	}}
	e, en := lifetimeEnv(t, fl, 251)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, len(en)+1)
	wg.Go(func() { errs <- e.app.SetLifetime(ctx, en[0], "forever") })
	<-started
	// The same file twice in one batch goes once.
	for range 2 {
		wg.Go(func() { errs <- e.app.SetLifetime(ctx, en[1], "forever") })
	}
	waitUntil(t, func() bool { return e.app.LifetimePending() == 2 }, "2 requests pending")
	for _, x := range en[2:] {
		wg.Go(func() { errs <- e.app.SetLifetime(ctx, x, "forever") })
	}
	waitUntil(t, func() bool { return e.app.LifetimePending() == 251 }, "251 requests pending")
	first.open()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, []int{1, 100, 100, 50}, fl.sizes())
	for _, x := range en {
		f, err := e.idx.Get(testApp, x.File().UUID())
		require.NoError(t, err)
		assert.True(t, f.Forever)
	}
}

// A request whose caller gives up still completes and is recorded; Close
// cancels a call in flight and waits for it.
func TestSetLifetimeCallerLeavesAndClose(t *testing.T) {
	release := newGate()
	started := make(chan struct{}, 2)
	fl := &fakeLifetime{answer: func(ctx context.Context, n int, lifetime string, ids []string) (map[string]bool, error) {
		started <- struct{}{}
		if n == 2 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		if err := release.wait(ctx); err != nil {
			return nil, err
		}
		return allOK(ids), nil
	}}
	e, en := lifetimeEnv(t, fl, 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.app.SetLifetime(ctx, en[0], "forever") }()
	<-started
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	release.open()
	waitUntil(t, func() bool {
		f, err := e.idx.Get(testApp, en[0].File().UUID())
		return err == nil && f.Forever
	}, "the abandoned request recorded")

	go func() { done <- e.app.SetLifetime(context.Background(), en[1], "refresh") }()
	<-started
	e.app.Close(0)
	err := <-done
	assert.True(t, errors.Is(err, core.ErrClosed) || errors.Is(err, context.Canceled), "%v", err)
	assert.ErrorIs(t, e.app.SetLifetime(context.Background(), en[1], "refresh"), core.ErrClosed)
}

// waitUntil polls cond (real time, bounded) until it holds.
func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
