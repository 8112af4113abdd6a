package core_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote"
)

// A successful upload is recorded (name, size, sniffed type, URL, expiry),
// its staged bytes become the cache's entry, and it leaves upload/ and the
// queue.
func TestUploadSuccessRecordsAndAdopts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		e := startEnv(t, fr, nil)
		e.write("notes.txt", []byte("hello, chat\n"))

		f := e.record("notes.txt")
		require.Len(t, fr.calls(), 1)
		s := fr.calls()[0]
		assert.Equal(t, "notes.txt", s.Name)
		assert.Equal(t, []byte("hello, chat\n"), s.Body)
		assert.Zero(t, s.ThumbWidth, "no thumbnail box for text")

		assert.Equal(t, s.UUID, f.UUID)
		assert.Equal(t, "notes.txt", f.Name)
		assert.Equal(t, "notes.txt", f.LinkName)
		assert.Equal(t, int64(12), f.Size)
		assert.Equal(t, "text/plain; charset=utf-8", f.MIME)
		assert.Equal(t, "https://chat.example/org/app/chatfiles/"+f.UUID, f.URL)
		assert.True(t, f.Uploaded.Equal(uploadTime))
		assert.True(t, f.Expires.Equal(uploadTime.Add(core.DefaultTTL)))
		assert.False(t, f.HasThumb)

		assert.Equal(t, []byte("hello, chat\n"), e.cached(f.UUID))
		assert.False(t, e.exists("notes.txt"))
		_, err := e.idx.GetUpload(testApp, "notes.txt")
		assert.ErrorIs(t, err, index.ErrNotFound)
		_, _, ok := e.ob.State("notes.txt")
		assert.False(t, ok)

		// Reading it back costs no download.
		entry, err := e.app.Lookup(context.Background(), f.UUID)
		require.NoError(t, err)
		assert.Equal(t, int64(12), size(e.app, entry))
		assert.Zero(t, fr.downloadCount())
	})
}

// Images are sent with the thumbnail box; their server thumbnail is
// fetched into the cache at once.
func TestUploadImageAsksForThumbnail(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		e := startEnv(t, fr, func(o *core.Options) { o.ThumbWidth, o.ThumbHeight = 320, 240 })
		e.write("photo.png", pngBytes)

		f := e.record("photo.png")
		s := fr.calls()[0]
		assert.Equal(t, 320, s.ThumbWidth)
		assert.Equal(t, 240, s.ThumbHeight)
		assert.Equal(t, "image/png", f.MIME)
		assert.True(t, f.HasThumb)
		waitFor(t, func() bool { return e.cache.Has(f.UUID + core.ThumbSuffix) }, "thumbnail prefetched")
		assert.Equal(t, []byte("thumbnail of "+f.UUID), e.cached(f.UUID+core.ThumbSuffix))
	})
}

// A restricted app sends restrict-access and keeps the share-secret; an
// unrestricted one drops the secret the server answers anyway.
func TestUploadShareSecret(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		for _, restrict := range []bool{true, false} {
			fr := newFakeRemote()
			e := startEnv(t, fr, func(o *core.Options) { o.Restrict = restrict })
			e.write("a.txt", []byte("x"))
			f := e.record("a.txt")
			assert.Equal(t, restrict, fr.calls()[0].Restrict)
			if restrict {
				assert.Equal(t, "secret-1", f.ShareSecret)
			} else {
				assert.Empty(t, f.ShareSecret)
			}
		}
	})
}

// A permanent failure (400, 413, or the local size limit) marks the upload
// failed with its reason; it stays so until the file changes.
func TestUploadPermanentFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		err     error  // the server's answer to the first upload
		maxSize int64  // the app's limit, when set
		reason  string // part of the reason shown
		calls   int    // upload calls made by the failing attempt
	}{
		{"400", remoteErr(400, remote.CodeIllegalArgument), 0, "illegal_argument", 1},
		{"413", remoteErr(413, remote.CodeTooLarge), 0, "413", 1},
		{"local limit", nil, 4, "size limit", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fr := newFakeRemote()
				fr.onUpload = func(ctx context.Context, n int, s sent) error {
					if n == 1 {
						return tc.err
					}
					return nil
				}
				e := startEnv(t, fr, func(o *core.Options) {
					if tc.maxSize > 0 {
						o.MaxSize = tc.maxSize
					}
				})
				e.write("big.bin", []byte("0123456789"))
				var reason string
				waitFor(t, func() bool {
					var state core.UploadState
					state, reason, _ = e.ob.State("big.bin")
					return state == core.StateFailed
				}, "failed state")
				assert.Contains(t, reason, tc.reason)
				quietFor(t, fr, 10*e.opts.SettleDelay, tc.calls)
				state, _, _ := e.ob.State("big.bin")
				assert.Equal(t, core.StateFailed, state)
				assert.True(t, e.exists("big.bin"))
				u, err := e.idx.GetUpload(testApp, "big.bin")
				require.NoError(t, err)
				assert.True(t, u.Permanent)

				e.writeDisk("big.bin", []byte("0123")) // a truncate by name
				e.touch("big.bin")
				f := e.record("big.bin")
				assert.Len(t, fr.calls(), tc.calls+1)
				assert.Equal(t, int64(4), f.Size)
			})
		})
	}
}

// A transient failure (503, 429 reach_limit) is retried after a backoff
// that grows; meanwhile the file shows waiting with the error.
func TestUploadTransientFailureRetries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"503", remoteErr(503, "")},
		{"429 reach_limit", remoteErr(429, remote.CodeReachLimit)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fr := newFakeRemote()
				fr.onUpload = func(ctx context.Context, n int, s sent) error {
					if n <= 2 {
						return tc.err
					}
					return nil
				}
				const base = 100 * time.Millisecond
				e := startEnv(t, fr, func(o *core.Options) { o.RetryBackoff = base })
				e.write("a.txt", []byte("x"))
				waitFor(t, func() bool { return len(fr.done()) >= 1 }, "first attempt")
				waitFor(t, func() bool {
					u, err := e.idx.GetUpload(testApp, "a.txt")
					return err == nil && u.Attempts == 1 || len(fr.calls()) > 1
				}, "failure recorded")
				if len(fr.calls()) == 1 { // still inside the backoff
					state, reason, ok := e.ob.State("a.txt")
					require.True(t, ok)
					assert.Equal(t, core.StateWaiting, state)
					assert.Contains(t, reason, tc.err.Error())
					u, err := e.idx.GetUpload(testApp, "a.txt")
					require.NoError(t, err)
					assert.False(t, u.Permanent)
					assert.True(t, u.NotBefore.After(fr.calls()[0].At))
				}

				f := e.record("a.txt")
				calls := fr.calls()
				require.Len(t, calls, 3)
				assert.Equal(t, calls[2].UUID, f.UUID)
				// backoff(base, n) is base·2ⁿ with jitter in its upper half.
				assert.GreaterOrEqual(t, calls[1].At.Sub(calls[0].At), base/2)
				assert.GreaterOrEqual(t, calls[2].At.Sub(calls[1].At), base)
			})
		})
	}
}

// A refused token or a used-up quota waits the longest backoff, showing
// the reason, instead of hammering the service.
func TestUploadAuthAndQuotaWaitLong(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		remoteErr(401, remote.CodeUnauthorized),
		remoteErr(403, ""),
		remoteErr(429, remote.CodeResourceLimited),
	} {
		t.Run(err.Error(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fr := newFakeRemote()
				fr.onUpload = func(context.Context, int, sent) error { return err }
				e := startEnv(t, fr, nil)
				e.write("a.txt", []byte("x"))
				var u index.Upload
				waitFor(t, func() bool {
					var gerr error
					u, gerr = e.idx.GetUpload(testApp, "a.txt")
					return gerr == nil && u.Attempts == 1
				}, "failure recorded")
				assert.Equal(t, index.Waiting, u.State)
				assert.WithinDuration(t, time.Now().Add(10*time.Minute), u.NotBefore, time.Minute)
				state, reason, _ := e.ob.State("a.txt")
				assert.Equal(t, core.StateWaiting, state)
				assert.Contains(t, reason, err.Error())
				quietFor(t, fr, 10*e.opts.RetryBackoff, 1)
			})
		})
	}
}

// Close lets an upload in flight finish within the grace period.
func TestCloseWaitsForUploadWithinGrace(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		g := newGate()
		fr.onUpload = func(ctx context.Context, n int, s sent) error { return g.wait(ctx) }
		e := startEnv(t, fr, nil)
		e.write("a.txt", []byte("x"))
		waitFor(t, func() bool { return len(fr.calls()) == 1 }, "upload")
		time.AfterFunc(50*time.Millisecond, g.open)
		e.app.Close(5 * time.Second)
		require.Len(t, fr.done(), 1)
		require.NoError(t, fr.done()[0].Err)
		_, err := e.idx.LookupName(testApp, "a.txt")
		require.NoError(t, err)
		assert.Equal(t, 0, e.queueLen())
		assert.False(t, e.exists("a.txt"))
	})
}

// Close cancels an upload still in flight after the grace period; the
// entry stays waiting, and the next start uploads it.
func TestCloseCancelsPastGrace(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		g := newGate()
		fr.onUpload = func(ctx context.Context, n int, s sent) error {
			if n == 1 {
				return g.wait(ctx) // never opened
			}
			return nil
		}
		e := startEnv(t, fr, nil)
		e.write("a.txt", []byte("x"))
		waitFor(t, func() bool { return len(fr.calls()) == 1 }, "upload")
		begin := time.Now()
		e.app.Close(50 * time.Millisecond)
		assert.Less(t, time.Since(begin), 2*time.Second)
		require.Len(t, fr.done(), 1)
		require.ErrorIs(t, fr.done()[0].Err, context.Canceled)
		u, err := e.idx.GetUpload(testApp, "a.txt")
		require.NoError(t, err)
		assert.Equal(t, index.Waiting, u.State)
		assert.True(t, e.exists("a.txt"))
		assert.Empty(t, e.files())

		e.restart()
		e.start()
		f := e.record("a.txt")
		assert.Len(t, fr.calls(), 2)
		assert.Equal(t, []byte("x"), e.cached(f.UUID))
	})
}

// An upload answered with a uuid the index already holds for another file
// is refused as a bad answer: the other file's record is untouched, the
// reason is shown, and the upload is tried again.
func TestUploadAnswerReusingAUUIDIsRefused(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		const taken = "5fd74830-0000-4000-8000-000000000001" // call 1's uuid
		fr.uuid = func(n int) string {
			if n == 2 {
				return taken
			}
			return fmt.Sprintf("5fd74830-0000-4000-8000-%012d", n)
		}
		e := startEnv(t, fr, func(o *core.Options) { o.RetryBackoff = 50 * time.Millisecond })
		e.write("a.txt", []byte("first"))
		a := e.record("a.txt")
		require.Equal(t, taken, a.UUID)

		e.write("b.txt", []byte("second"))
		waitFor(t, func() bool {
			u, err := e.idx.GetUpload(testApp, "b.txt")
			return err == nil && u.Attempts == 1 || len(fr.calls()) > 2
		}, "the refused answer recorded")
		if len(fr.calls()) == 2 { // still inside the backoff
			_, reason, ok := e.ob.State("b.txt")
			require.True(t, ok)
			assert.Contains(t, reason, "already names")
		}
		b := e.record("b.txt")
		assert.NotEqual(t, taken, b.UUID)
		got, err := e.idx.Get(testApp, taken)
		require.NoError(t, err)
		assert.Equal(t, "a.txt", got.Name, "the other file's record is untouched")
		assert.Equal(t, int64(5), got.Size)
		assert.Equal(t, []byte("first"), e.cached(taken))
	})
}

// Close starts no new upload while it drains the ones in flight: a file
// queued behind them stays waiting for the next mount.
func TestCloseStartsNoNewUpload(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		g := newGate()
		fr.onUpload = func(ctx context.Context, n int, s sent) error { return g.wait(ctx) }
		e := startEnv(t, fr, func(o *core.Options) { o.Uploaders = 1 })
		e.write("a.txt", []byte("a"))
		waitFor(t, func() bool { return len(fr.calls()) == 1 }, "upload of a.txt")
		e.write("b.txt", []byte("b"))
		waitFor(t, func() bool {
			u, err := e.idx.GetUpload(testApp, "b.txt")
			return err == nil && u.State == index.Waiting
		}, "b.txt queued")
		time.AfterFunc(time.Second, g.open)
		e.app.Close(30 * time.Second)
		require.Len(t, fr.calls(), 1, "no upload starts once Close has begun")
		require.NoError(t, fr.done()[0].Err)
		u, err := e.idx.GetUpload(testApp, "b.txt")
		require.NoError(t, err)
		assert.Equal(t, index.Waiting, u.State)
	})
}
