package remote

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The history limiter never lets perMinute+1 calls into one minute, with
// room to spare for the calls' latencies to differ: at the default 10 a
// minute the 11th call starts at least 3 s after a minute.
func TestHistoryLimiterLeavesAMargin(t *testing.T) {
	lim := newHistoryLimiter(DefaultHistoryPerMinute)
	t0 := time.Unix(1_700_000_000, 0)
	var last time.Duration
	for i := 0; i <= DefaultHistoryPerMinute; i++ {
		last = lim.ReserveN(t0, 1).DelayFrom(t0)
	}
	assert.GreaterOrEqual(t, last, time.Minute+3*time.Second, "the 11th call")
	assert.Less(t, last, time.Minute+4*time.Second, "no slower than needed")
}
