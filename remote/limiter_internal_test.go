package remote

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The burst is one second's worth of calls (the service counts calls per
// second, DESIGN §1), so a folder of thumbnails opened at once goes out at
// once; at least one call for a rate below one a second.
func TestLimiterBurstIsOneSecond(t *testing.T) {
	for _, tc := range []struct {
		perSecond float64
		burst     int
	}{{DefaultRateLimit, DefaultRateLimit}, {100, 100}, {20, 20}, {0.5, 1}} {
		l := newLimiter(tc.perSecond)
		assert.Equal(t, tc.burst, l.Burst(), "rate %v", tc.perSecond)
		assert.True(t, l.AllowN(time.Now(), tc.burst), "a fresh limiter lets a whole burst go at once")
		assert.False(t, l.AllowN(time.Now(), 1), "and no more")
	}
}

// Uploads and downloads are limited separately, as the service counts them.
func TestLimitersPerKind(t *testing.T) {
	c, err := New(Options{Endpoint: Endpoint{BaseURL: "http://127.0.0.1:1", AppID: "a"}, Tokens: NewStaticToken("t")})
	assert.NoError(t, err)
	assert.NotNil(t, c.upLimit)
	assert.NotSame(t, c.upLimit, c.downLimit)
	assert.True(t, c.upLimit.AllowN(time.Now(), DefaultRateLimit))
	assert.True(t, c.downLimit.AllowN(time.Now(), DefaultRateLimit), "uploads took nothing from downloads")
}
