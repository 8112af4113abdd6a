package backoff_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/internal/backoff"
)

func TestDelayDoublesUpToMax(t *testing.T) {
	p := backoff.Policy{Initial: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 100, 200, 400, 800, 1000, 1000}
	for n, w := range want {
		assert.Equal(t, w*time.Millisecond, p.Delay(n), "after %d failures", n)
	}
	uncapped := backoff.Policy{Initial: time.Second}
	assert.Equal(t, 1024*time.Second, uncapped.Delay(11))
	assert.Positive(t, uncapped.Delay(1000), "no overflow")
}

func TestJitterStaysInItsRange(t *testing.T) {
	for _, tc := range []struct {
		jitter   backoff.Jitter
		min, max time.Duration
	}{
		{backoff.None, 400 * time.Millisecond, 400 * time.Millisecond},
		{backoff.Full, 0, 400 * time.Millisecond},
		{backoff.Equal, 200 * time.Millisecond, 400 * time.Millisecond},
	} {
		p := backoff.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: tc.jitter}
		for range 1000 {
			d := p.Delay(3)
			require.GreaterOrEqual(t, d, tc.min)
			require.LessOrEqual(t, d, tc.max)
		}
	}
}

func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		require.NoError(t, backoff.Sleep(context.Background(), time.Minute))
		assert.Equal(t, time.Minute, time.Since(start))

		cause := errors.New("unmounted")
		ctx, cancel := context.WithCancelCause(context.Background())
		time.AfterFunc(time.Second, func() { cancel(cause) })
		start = time.Now()
		assert.ErrorIs(t, backoff.Sleep(ctx, time.Hour), cause)
		assert.Equal(t, time.Second, time.Since(start))
		assert.ErrorIs(t, backoff.Sleep(ctx, 0), cause)
	})
}
