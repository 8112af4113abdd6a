package remote

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Regression tests for the parsers of hostile input (see fuzz_test.go).

func TestParseRetryAfterHuge(t *testing.T) {
	now := time.Now()
	for v, want := range map[string]time.Duration{
		"5":                     5 * time.Second,
		"59":                    59 * time.Second,
		"60":                    maxRetryAfter,
		"86400":                 maxRetryAfter,
		"18446744073":           maxRetryAfter, // ×1e9 wraps to a negative Duration
		"9223372036854775807":   maxRetryAfter, // ×1e9 wraps to -1s
		"99999999999999999999":  maxRetryAfter, // past int64
		"-99999999999999999999": 0,
		"-1":                    0,
		"soon":                  0,
	} {
		assert.Equal(t, want, parseRetryAfter(v, now), "Retry-After: %s", v)
	}
}
