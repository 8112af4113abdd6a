package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// idleTimer cancels a request's context with ErrIdleTimeout when it stays
// armed for d. It starts disarmed.
type idleTimer struct {
	d time.Duration
	t *time.Timer
}

func newIdleTimer(d time.Duration, cancel context.CancelCauseFunc) *idleTimer {
	t := time.AfterFunc(time.Hour, func() { cancel(ErrIdleTimeout) })
	t.Stop()
	return &idleTimer{d: d, t: t}
}

func (it *idleTimer) arm()  { it.t.Reset(it.d) }
func (it *idleTimer) stop() { it.t.Stop() }

// explain replaces err by ErrIdleTimeout when the timer canceled ctx: the
// transport then reports a bare cancellation, which is not what happened.
func (it *idleTimer) explain(ctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(ctx), ErrIdleTimeout) {
		return fmt.Errorf("%w (%v without progress)", ErrIdleTimeout, it.d)
	}
	return err
}

// idleReader is an upload body. The transport reads it as fast as the
// connection takes the bytes, so a long pause between two Reads means the
// server stopped reading: the timer is armed between Reads, and stopped
// once the body is exhausted.
type idleReader struct {
	r     io.Reader
	timer *idleTimer
}

func (ir *idleReader) Read(p []byte) (int, error) {
	ir.timer.stop()
	n, err := ir.r.Read(p)
	if err == nil {
		ir.timer.arm()
	}
	return n, err
}

// idleBody is a response body (a download's Body, an error or upload
// answer). Each Read must see a byte within the idle timeout (the timer is
// armed only inside Read, so a slow consumer is not punished), and the body
// must deliver exactly the announced number of bytes when one was announced
// (left >= 0). Close releases the request's context.
type idleBody struct {
	rc     io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *idleTimer
	left   int64 // bytes still announced; -1 when unknown
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.timer.arm()
	n, err := b.rc.Read(p)
	b.timer.stop()
	if b.left >= 0 {
		b.left -= int64(n)
		switch {
		case b.left < 0:
			return n, fmt.Errorf("remote: download: %d bytes more than announced", -b.left)
		case err == io.EOF && b.left > 0:
			return n, io.ErrUnexpectedEOF
		}
	}
	if err != nil && err != io.EOF {
		err = b.timer.explain(b.ctx, err)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.stop()
	err := b.rc.Close()
	b.cancel(context.Canceled)
	return err
}
