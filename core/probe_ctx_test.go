package core_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
)

// ctxBodyRemote answers downloads whose bodies, like HTTP bodies, fail with
// the request's context error once it ends; past the first head bytes they
// wait for release.
type ctxBodyRemote struct {
	*fakeRemote
	head    int
	release chan struct{}
}

func (r ctxBodyRemote) Download(ctx context.Context, req remote.DownloadRequest) (*remote.Download, error) {
	d, err := r.fakeRemote.Download(ctx, req)
	if err != nil {
		return nil, err
	}
	d.Body = &ctxBody{ctx: ctx, rc: d.Body, head: r.head, release: r.release}
	return d, nil
}

type ctxBody struct {
	ctx     context.Context
	rc      io.ReadCloser
	head    int
	release chan struct{}
}

func (b *ctxBody) Read(p []byte) (int, error) {
	if b.head <= 0 {
		select {
		case <-b.release:
		case <-b.ctx.Done():
		}
	}
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	if b.head > 0 && len(p) > b.head {
		p = p[:b.head]
	}
	n, err := b.rc.Read(p)
	b.head -= n
	return n, err
}

func (b *ctxBody) Close() error { return b.rc.Close() }

// The probe's body goes on filling the shared cache after the lookup that
// started it has returned: the end of that FUSE request's context (go-fuse
// reuses it for later requests, whose interrupts close it) must not cut the
// download that every reader of the file shares.
func TestProbeBodyOutlivesLookupContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		content := bytes.Repeat([]byte("0123456789"), 300)
		fr.files[uuidA] = content
		release := make(chan struct{})
		e := newEnv(t, fr, nil)
		e.opts.Remote = ctxBodyRemote{fakeRemote: fr, head: 512, release: release}
		e.restart()

		ctx, cancel := context.WithCancel(context.Background())
		entry, err := e.app.Lookup(ctx, uuidA)
		require.NoError(t, err)
		cancel() // the lookup's request is over; its context ends
		close(release)

		data, err := readAll(t, e.app, entry)
		require.NoError(t, err)
		assert.Equal(t, content, data)
	})
}

// An interrupted lookup does not fail the lookups of the same uuid that
// joined its probe.
func TestProbeInterruptedLookupDoesNotFailOthers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fr := newFakeRemote()
		fr.files[uuidA] = []byte("hello")
		g := newGate()
		fr.onDownload = func(ctx context.Context, _ remote.DownloadRequest) error { return g.wait(ctx) }
		e := newEnv(t, fr, nil)

		ctx, cancel := context.WithCancel(context.Background())
		first := make(chan error, 1)
		go func() { _, err := e.app.Lookup(ctx, uuidA); first <- err }()
		waitFor(t, func() bool { return fr.downloadCount() == 1 }, "the probe")
		other := make(chan error, 1)
		go func() { _, err := e.app.Lookup(context.Background(), uuidA); other <- err }()
		synctest.Wait() // the second lookup has joined the probe
		cancel()
		assert.ErrorIs(t, <-first, context.Canceled)
		g.open()
		require.NoError(t, <-other, "a lookup that was not interrupted")
		assert.Equal(t, 1, fr.downloadCount())
	})
}
