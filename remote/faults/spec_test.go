package faults_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote/faults"
)

func TestClassify(t *testing.T) {
	const uuid = "5fd74830-5796-11e9-9ed2-2b3b4c4a1e5f"
	tests := []struct {
		method, path string
		thumb        string
		want         faults.Endpoint
	}{
		{"POST", "/app-id/A/chatfiles", "", faults.Upload},
		{"POST", "/org/app/chatfiles/", "", faults.Upload},
		{"GET", "/org/app/chatfiles/" + uuid, "", faults.Download},
		{"GET", "/org/app/chatfiles/" + uuid, "true", faults.Thumbnail},
		{"GET", "/org/app/chatfiles/" + uuid, " TRUE ", faults.Thumbnail},
		{"GET", "/org/app/chatfiles/" + uuid, "false", faults.Download},
		{"GET", "/org/app/chatfiles/not-checked", "", faults.Download},
		{"POST", "/org/app/token", "", faults.Token},
		{"GET", "/org/app/chatfiles", "", faults.Other},
		{"GET", "/org/app/chatfiles/a/b", "", faults.Other},
		{"PUT", "/org/app/chatfiles", "", faults.Other},
		{"DELETE", "/org/app/chatfiles/" + uuid, "", faults.Other},
		{"GET", "/", "", faults.Other},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		if tt.thumb != "" {
			r.Header.Set("thumbnail", tt.thumb)
		}
		assert.Equal(t, tt.want, faults.Classify(r), "%s %s thumbnail=%q", tt.method, tt.path, tt.thumb)
	}
}

func TestParse(t *testing.T) {
	o, err := faults.Parse(" upload:500=0.1, drop=0.05 ; download+thumbnail:truncate=0.2;seed=7;stallfor=3s;stalldrop=0.5;retryafter=2s;")
	require.NoError(t, err)
	var want faults.Options
	want.Rates[faults.Upload][faults.Status500] = 0.1
	want.Rates[faults.Upload][faults.Drop] = 0.05
	want.Rates[faults.Download][faults.Truncate] = 0.2
	want.Rates[faults.Thumbnail][faults.Truncate] = 0.2
	want.Seed, want.StallFor, want.StallDrop, want.RetryAfter = 7, 3*time.Second, 0.5, 2*time.Second
	assert.Equal(t, want, o)
	assert.Equal(t, "upload:500=0.1,drop=0.05;download:truncate=0.2;thumbnail:truncate=0.2;seed=7;stallfor=3s;stalldrop=0.5;retryafter=2s", o.String())

	// all, then an override.
	o, err = faults.Parse("all:429=0.25,stall=0.5;upload:429=0")
	require.NoError(t, err)
	assert.Equal(t, 0.0, o.Rates[faults.Upload][faults.Status429])
	assert.Equal(t, 0.5, o.Rates[faults.Upload][faults.Stall])
	for e := faults.Download; e < faults.NumEndpoints; e++ {
		assert.Equal(t, 0.25, o.Rates[e][faults.Status429], e.String())
	}

	o, err = faults.Parse("")
	require.NoError(t, err)
	assert.Equal(t, faults.Options{}, o)
	assert.Equal(t, "", o.String())
}

func TestParseErrors(t *testing.T) {
	for _, spec := range []string{
		"upload",                        // neither rates nor setting
		"upload:500",                    // no value
		"upload:500=",                   // empty value
		"upload:500=1.5",                // not a probability
		"upload:500=-0.1",               // negative
		"upload:500=NaN",                // NaN
		"upload:500=inf",                // infinite
		"upload:404=0.1",                // unknown kind
		"uploads:500=0.1",               // unknown endpoint
		"upload+:500=0.1",               // empty endpoint
		"upload:500=0.6,503=0.6",        // sum over 1
		"all:drop=0.5;download:500=0.6", // sum over 1 after merge
		"seed=-1",
		"seed=x",
		"stallfor=-1s",
		"stallfor=2h", // past MaxStallFor
		"stallfor=5",  // no unit
		"stalldrop=2",
		"retryafter=1000h",
		"speed=1",
	} {
		_, err := faults.Parse(spec)
		assert.Error(t, err, spec)
	}
	// Errors quote a bounded piece of the input.
	_, err := faults.Parse("upload:" + strings.Repeat("x", 10000) + "=1")
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 400)
}

func TestNewRefusesBadOptions(t *testing.T) {
	var o faults.Options
	o.Rates[faults.Other][faults.Drop] = 2
	_, err := faults.New(o)
	assert.Error(t, err)
	_, err = faults.New(faults.Options{StallFor: -time.Second})
	assert.Error(t, err)
}

// FuzzParse checks that Parse never panics, that what it accepts is valid,
// and that String renders it back to the same Options, canonically.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"upload:500=0.1,drop=0.05;download:truncate=0.2",
		"all:429=0.25;upload:429=0;seed=18446744073709551615",
		"download+thumbnail:dropbody=1e-3,stall=0.5;stallfor=1.5s;stalldrop=1;retryafter=90s",
		"token:503=0x1p-2;other:500=.5",
		"upload:500=0.6,503=0.4",
		";;;",
		"upload:500=-0",
		"other:stall=1;stallfor=1m0s",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		o, err := faults.Parse(spec)
		if err != nil {
			return
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("Parse(%q) accepted invalid options: %v", spec, err)
		}
		s := o.String()
		again, err := faults.Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, whose String %q does not parse: %v", spec, o, s, err)
		}
		if again != o {
			t.Fatalf("round trip of %q through %q: got %+v, want %+v", spec, s, again, o)
		}
		if again.String() != s {
			t.Fatalf("String not canonical: %q then %q", s, again.String())
		}
		if _, err := faults.New(o); err != nil {
			t.Fatalf("New refused parsed options %q: %v", s, err)
		}
	})
}
