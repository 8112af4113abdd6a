package faults_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
	"github.com/chatfs/chatfs/remote/faults"
)

// TestClientThroughFaults runs the remote client against the emulator
// behind every kind of fault: each upload eventually succeeds, and each
// download, resumed at the offset reached when its body breaks, gives
// back the bytes uploaded. Then faults are turned off and a last round
// trip sees none.
func TestClientThroughFaults(t *testing.T) {
	const token = "007faults-token"
	emu, err := emulator.New(emulator.Options{Dir: filepath.Join(t.TempDir(), "data"), Token: token, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	o := faults.Options{Seed: 1, StallFor: 20 * time.Millisecond, StallDrop: 0.5}
	o.Rates[faults.Upload] = faults.Rates{faults.Status500: 0.05, faults.Status503: 0.05, faults.Status429: 0.05,
		faults.Drop: 0.05, faults.Truncate: 0.05, faults.Stall: 0.05}
	o.Rates[faults.Download] = faults.Rates{faults.Status500: 0.05, faults.Status429: 0.05, faults.Drop: 0.05,
		faults.DropBody: 0.15, faults.Truncate: 0.15, faults.Stall: 0.05}
	in, err := faults.New(o)
	require.NoError(t, err)
	srv := httptest.NewServer(in.Wrap(emu))
	t.Cleanup(srv.Close)
	c, err := remote.New(remote.Options{
		Endpoint:  remote.Endpoint{BaseURL: srv.URL, Org: "org", App: "app"},
		Tokens:    remote.NewStaticToken(token),
		Retry:     remote.RetryPolicy{MaxAttempts: 12, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxElapsed: 10 * time.Second},
		RateLimit: -1,
	})
	require.NoError(t, err)
	ctx := context.Background()

	roundTrip := func(i int) (resumes int) {
		data := bytes.Repeat([]byte(fmt.Sprintf("file %d;", i)), 5000+i*100)
		res, err := c.Upload(ctx, remote.UploadRequest{Name: fmt.Sprintf("f%d.bin", i), File: bytes.NewReader(data), Size: int64(len(data))})
		require.NoError(t, err, "upload %d", i)
		var got []byte
		for tries := 0; len(got) < len(data); tries++ {
			require.Less(t, tries, 30, "download %d does not finish", i)
			d, err := c.Download(ctx, remote.DownloadRequest{UUID: res.UUID, Offset: int64(len(got))})
			require.NoError(t, err, "download %d at %d", i, len(got))
			got = got[:d.Offset]
			b, err := io.ReadAll(d.Body)
			d.Body.Close()
			got = append(got, b...)
			if err != nil {
				require.True(t, errors.Is(err, io.ErrUnexpectedEOF) || remote.IsRetryable(err), "body error %v", err)
				resumes++
			}
		}
		require.Equal(t, data, got, "download %d", i)
		return resumes
	}
	resumes := 0
	for i := range 40 {
		resumes += roundTrip(i)
	}
	cnt := in.Counts()
	t.Logf("faults: %v; %d downloads resumed", cnt, resumes)
	assert.Positive(t, cnt.Total())
	assert.Positive(t, resumes)
	for k := range faults.NumKinds {
		if k != faults.DropBody {
			assert.Positive(t, cnt.Faults[faults.Upload][k]+cnt.Faults[faults.Download][k], "no %s injected", k)
		}
	}
	assert.Positive(t, cnt.Faults[faults.Download][faults.DropBody])

	require.NoError(t, in.SetRates(faults.Table{}))
	before := in.Counts().Total()
	assert.Zero(t, roundTrip(99))
	assert.Equal(t, before, in.Counts().Total())
}
