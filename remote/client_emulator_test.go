package remote_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// emu is an emulator behind a loopback server, with a movable clock.
type emu struct {
	srv *emulator.Server
	url string
	now time.Time
}

func newEmulator(t *testing.T, o emulator.Options) *emu {
	t.Helper()
	e := &emu{now: time.Now()}
	o.Dir = filepath.Join(t.TempDir(), "data")
	if o.Token == "" {
		o.Token = testToken
	}
	o.Logger = slog.New(slog.DiscardHandler)
	s, err := emulator.New(o)
	require.NoError(t, err)
	s.SetNow(func() time.Time { return e.now })
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	e.srv, e.url = s, hs.URL
	return e
}

// emuClient is a client of the emulator for one URL shape.
func emuClient(t *testing.T, e *emu, ep remote.Endpoint) *remote.Client {
	ep.BaseURL = e.url
	return newClient(t, e.url, func(o *remote.Options) { o.Endpoint = ep })
}

var shapes = map[string]remote.Endpoint{
	"app-id":  {AppID: testAppID},
	"org/app": {Org: "1112190901", App: "demo"},
}

func readAll(t *testing.T, c *remote.Client, req remote.DownloadRequest) (*remote.Download, []byte) {
	t.Helper()
	d, err := c.Download(context.Background(), req)
	require.NoError(t, err)
	defer d.Body.Close()
	b, err := io.ReadAll(d.Body)
	require.NoError(t, err)
	return d, b
}

func TestEmulatorRoundTrip(t *testing.T) {
	data := bytes.Repeat([]byte("chatfs round trip\n"), 5000) // 90 KB
	for shape, ep := range shapes {
		for _, noRange := range []bool{false, true} {
			name := shape
			if noRange {
				name += "/no range"
			}
			t.Run(name, func(t *testing.T) {
				e := newEmulator(t, emulator.Options{NoRange: noRange})
				c := emuClient(t, e, ep)
				res, err := c.Upload(context.Background(), remote.UploadRequest{Name: "notes.txt", File: bytes.NewReader(data), Size: int64(len(data))})
				require.NoError(t, err)
				require.True(t, remote.ValidUUID(res.UUID))
				assert.Equal(t, c.Base()+"/chatfiles/"+res.UUID, res.URL())

				uuid, _, err := remote.ParseMessageURL(res.URL())
				require.NoError(t, err)
				assert.Equal(t, res.UUID, uuid)

				d, got := readAll(t, c, remote.DownloadRequest{UUID: res.UUID})
				assert.Equal(t, data, got)
				assert.Equal(t, int64(len(data)), d.Size)

				const off = 1000
				d, got = readAll(t, c, remote.DownloadRequest{UUID: res.UUID, Offset: off})
				assert.Equal(t, int64(len(data)), d.Size)
				if noRange {
					assert.Equal(t, int64(0), d.Offset)
					assert.Equal(t, data, got)
				} else {
					assert.Equal(t, int64(off), d.Offset)
					assert.Equal(t, data[off:], got)
				}
			})
		}
	}
}

func TestEmulatorRestricted(t *testing.T) {
	e := newEmulator(t, emulator.Options{})
	c := emuClient(t, e, shapes["org/app"])
	data := []byte("secret plans")
	res, err := c.Upload(context.Background(), remote.UploadRequest{Name: "plans.txt", File: bytes.NewReader(data), Size: int64(len(data)), Restrict: true})
	require.NoError(t, err)
	require.NotEmpty(t, res.ShareSecret)
	assert.True(t, res.Restricted)

	tests := []struct {
		name   string
		secret string
		ok     bool
	}{
		{"right secret", res.ShareSecret, true},
		{"no secret", "", false},
		{"wrong secret", res.ShareSecret + "x", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := c.Download(context.Background(), remote.DownloadRequest{UUID: res.UUID, ShareSecret: tc.secret})
			if !tc.ok {
				require.Error(t, err)
				assert.True(t, remote.IsForbidden(err), "%v", err)
				assert.False(t, remote.IsRetryable(err))
				assert.NotContains(t, err.Error(), res.ShareSecret)
				return
			}
			require.NoError(t, err)
			defer d.Body.Close()
			got, err := io.ReadAll(d.Body)
			require.NoError(t, err)
			assert.Equal(t, data, got)
		})
	}
}

func TestEmulatorErrors(t *testing.T) {
	e := newEmulator(t, emulator.Options{MaxSize: 1000, TTL: time.Hour, Apps: []string{"app-id/" + testAppID}})
	c := emuClient(t, e, shapes["app-id"])
	small, err := c.Upload(context.Background(), remote.UploadRequest{Name: "a.txt", File: strings.NewReader("tiny"), Size: 4})
	require.NoError(t, err)
	big := bytes.Repeat([]byte("x"), 5000)

	tests := []struct {
		name  string
		call  func(c *remote.Client) error
		check func(error) bool
	}{
		{"404 entity_not_found", func(c *remote.Client) error {
			_, err := c.Download(context.Background(), remote.DownloadRequest{UUID: "00000000-0000-4000-8000-000000000000"})
			return err
		}, func(err error) bool { return remote.IsNotExist(err) && !remote.IsExpired(err) }},
		{"413 too large", func(c *remote.Client) error {
			_, err := c.Upload(context.Background(), remote.UploadRequest{Name: "big.bin", File: bytes.NewReader(big), Size: int64(len(big))})
			return err
		}, remote.IsTooLarge},
		{"401 wrong token", func(*remote.Client) error {
			bad := newClient(t, e.url, func(o *remote.Options) {
				o.Endpoint = remote.Endpoint{BaseURL: e.url, AppID: testAppID}
				o.Tokens = remote.NewStaticToken("wrong")
			})
			_, err := bad.Download(context.Background(), remote.DownloadRequest{UUID: small.UUID})
			return err
		}, remote.IsUnauthorized},
		{"404 app not found", func(*remote.Client) error {
			other := emuClient(t, e, remote.Endpoint{AppID: "someoneelse"})
			_, err := other.Download(context.Background(), remote.DownloadRequest{UUID: small.UUID})
			return err
		}, remote.IsAppNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(c)
			require.Error(t, err)
			assert.True(t, tc.check(err), "%v", err)
			assert.False(t, remote.IsRetryable(err), "%v", err)
		})
	}

	t.Run("404 file_expired", func(t *testing.T) {
		e.now = e.now.Add(2 * time.Hour)
		_, err := c.Download(context.Background(), remote.DownloadRequest{UUID: small.UUID})
		require.Error(t, err)
		assert.True(t, remote.IsExpired(err), "%v", err)
		assert.True(t, remote.IsNotExist(err))
	})
}

func TestEmulatorThumbnail(t *testing.T) {
	e := newEmulator(t, emulator.Options{})
	c := emuClient(t, e, shapes["app-id"])
	img := image.NewRGBA(image.Rect(0, 0, 400, 300))
	rnd := rand.New(rand.NewPCG(1, 2)) // noise: PNG cannot shrink it under 10 KB
	for y := range 300 {
		for x := range 400 {
			img.Set(x, y, color.RGBA{uint8(rnd.Uint32()), uint8(y), uint8(x), 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	require.Greater(t, buf.Len(), 10*1024, "large enough to be scaled")
	res, err := c.Upload(context.Background(), remote.UploadRequest{Name: "pic.png", File: bytes.NewReader(buf.Bytes()), Size: int64(buf.Len()), ThumbWidth: 100, ThumbHeight: 100})
	require.NoError(t, err)

	_, thumb := readAll(t, c, remote.DownloadRequest{UUID: res.UUID, Thumbnail: true})
	cfg, _, err := image.DecodeConfig(bytes.NewReader(thumb))
	require.NoError(t, err)
	assert.LessOrEqual(t, cfg.Width, 100)
	assert.LessOrEqual(t, cfg.Height, 100)
	assert.Equal(t, int64(1), e.srv.ThumbnailCount(res.UUID))
}
