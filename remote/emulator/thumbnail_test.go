package emulator

import (
	"bytes"
	"image"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noiseRGBA is a w×h image of random pixels: it compresses badly, so its
// encodings are well over 10 KB at 800×600.
func noiseRGBA(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Uint32())
	}
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 0xff
	}
	return img
}

func noisePNG(t *testing.T, w, h int) []byte {
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, noiseRGBA(w, h)))
	return buf.Bytes()
}

func noiseJPEG(t *testing.T, w, h int) []byte {
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, noiseRGBA(w, h), &jpeg.Options{Quality: 90}))
	return buf.Bytes()
}

func noiseGIF(t *testing.T, w, h int) []byte {
	img := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Uint32())
	}
	var buf bytes.Buffer
	require.NoError(t, gif.Encode(&buf, img, nil))
	return buf.Bytes()
}

// flatPNG is a w×h image of one colour: a tiny file.
func flatPNG(t *testing.T, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0x80
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}

// pad appends bytes after an image's end (decoders ignore them) to make it
// exactly n bytes long.
func pad(b []byte, n int) []byte {
	return append(append([]byte{}, b...), make([]byte, n-len(b))...)
}

func (e *env) thumb(base, uuid string) answer {
	e.t.Helper()
	return e.get(base, uuid, map[string]string{"thumbnail": "true"})
}

func decodeConfig(t *testing.T, b []byte) (image.Config, string) {
	t.Helper()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	require.NoError(t, err)
	return cfg, format
}

func TestSmallImageIsItsOwnThumbnail(t *testing.T) {
	e := newEnv(t, Options{})
	big := flatPNG(t, 400, 300) // larger than the 170×170 box
	require.Less(t, len(big), ownThumbMax)
	for _, img := range [][]byte{noisePNG(t, 16, 16), pad(big, ownThumbMax)} {
		uuid, _ := e.put("/org/app", img, nil)
		a := e.thumb("/org/app", uuid)
		require.Equal(t, 200, a.status, string(a.body))
		assert.Equal(t, img, a.body)
	}
	// One byte more and the 400×300 image gets scaled.
	uuid, _ := e.put("/org/app", pad(big, ownThumbMax+1), nil)
	a := e.thumb("/org/app", uuid)
	require.Equal(t, 200, a.status)
	cfg, format := decodeConfig(t, a.body)
	assert.Equal(t, "png", format)
	assert.Equal(t, [2]int{170, 128}, [2]int{cfg.Width, cfg.Height})
}

func TestThumbnailScaling(t *testing.T) {
	e := newEnv(t, Options{})
	for _, tc := range []struct {
		format string
		data   []byte
	}{
		{"png", noisePNG(t, 800, 600)},
		{"jpeg", noiseJPEG(t, 800, 600)},
		{"gif", noiseGIF(t, 800, 600)},
	} {
		t.Run(tc.format, func(t *testing.T) {
			e.t = t
			require.Greater(t, len(tc.data), ownThumbMax)
			for _, box := range []struct {
				hdr  map[string]string
				w, h int
			}{
				{nil, 170, 128}, // 600×170/800 = 127.5, rounded
				{map[string]string{"thumbnail-width": "100", "thumbnail-height": "50"}, 67, 50},
				{map[string]string{"thumbnail-width": "400"}, 227, 170},                              // height defaults to 170
				{map[string]string{"thumbnail-width": "bogus"}, 170, 128},                            // ignored
				{map[string]string{"thumbnail-width": "1600", "thumbnail-height": "1200"}, 800, 600}, // never enlarged
			} {
				uuid, _ := e.put("/org/app", tc.data, box.hdr)
				a := e.thumb("/org/app", uuid)
				require.Equal(t, 200, a.status, string(a.body))
				cfg, format := decodeConfig(t, a.body)
				assert.Equal(t, tc.format, format)
				assert.Equal(t, [2]int{box.w, box.h}, [2]int{cfg.Width, cfg.Height}, "box %v", box.hdr)
				_, _, err := image.Decode(bytes.NewReader(a.body))
				require.NoError(t, err)
				if box.w == 800 {
					assert.Equal(t, tc.data, a.body, "an image that fits the box is its own thumbnail")
				}
			}
		})
	}
}

func TestThumbnailIsCachedOnDisk(t *testing.T) {
	e := newEnv(t, Options{})
	uuid, _ := e.put("/org/app", noisePNG(t, 800, 600), nil)
	first := e.thumb("/org/app", uuid)
	require.Equal(t, 200, first.status)
	cached := filepath.Join(e.dir, "apps", "org%2Fapp", uuid+".thumb")
	b, err := os.ReadFile(cached)
	require.NoError(t, err)
	assert.Equal(t, first.body, b)

	// The cached file is what is served from now on.
	marker := append(b[:len(b):len(b)], "marker"...)
	require.NoError(t, os.WriteFile(cached, marker, 0o600))
	assert.Equal(t, marker, e.thumb("/org/app", uuid).body)
	assert.Equal(t, int64(2), e.srv.ThumbnailCount(uuid))
	assert.Equal(t, int64(0), e.srv.DownloadCount(uuid))
}

// Non-images have no thumbnail: the emulator answers entity_not_found.
func TestNoThumbnailForNonImages(t *testing.T) {
	e := newEnv(t, Options{})
	big := bytes.Repeat([]byte("not an image "), 2000)
	notPNG := append([]byte("\x89PNG\r\n\x1a\n"), big...) // a PNG signature, broken after
	for _, data := range [][]byte{[]byte("small text"), big, notPNG} {
		uuid, _ := e.put("/org/app", data, nil)
		e.requireNotFound(e.thumb("/org/app", uuid))
		assert.Equal(t, 200, e.get("/org/app", uuid, map[string]string{"thumbnail": "false"}).status)
	}
}

func TestThumbnailOfRestrictedFileNeedsSecret(t *testing.T) {
	e := newEnv(t, Options{})
	uuid, secret := e.put("/org/app", noisePNG(t, 800, 600), map[string]string{"restrict-access": "true"})
	assert.Equal(t, 403, e.thumb("/org/app", uuid).status)
	a := e.get("/org/app", uuid, map[string]string{"thumbnail": "true", "share-secret": secret})
	assert.Equal(t, 200, a.status)
}

func TestFitBox(t *testing.T) {
	for _, tc := range []struct{ w, h, bw, bh, tw, th int }{
		{800, 600, 170, 170, 170, 128},
		{600, 800, 170, 170, 128, 170},
		{800, 600, 100, 50, 67, 50},
		{170, 170, 170, 170, 170, 170},
		{100, 10, 170, 170, 100, 10},
		{10000, 1, 170, 170, 170, 1},
		{1, 10000, 170, 170, 1, 170},
	} {
		tw, th := fitBox(tc.w, tc.h, tc.bw, tc.bh)
		assert.Equal(t, [2]int{tc.tw, tc.th}, [2]int{tw, th}, "%+v", tc)
	}
}

func TestConcurrentThumbnailRequests(t *testing.T) {
	e := newEnv(t, Options{})
	uuid, _ := e.put("/org/app", noiseJPEG(t, 800, 600), nil)
	const n = 8
	bodies := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, e.url+"/org/app/chatfiles/"+uuid, nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("thumbnail", "true")
			resp, err := http.DefaultClient.Do(req)
			if !assert.NoError(t, err) {
				return
			}
			defer resp.Body.Close()
			assert.Equal(t, 200, resp.StatusCode)
			bodies[i], _ = io.ReadAll(resp.Body)
		})
	}
	wg.Wait()
	cfg, format := decodeConfig(t, bodies[0])
	assert.Equal(t, "jpeg", format)
	assert.Equal(t, [2]int{170, 128}, [2]int{cfg.Width, cfg.Height})
	for _, b := range bodies[1:] {
		assert.Equal(t, bodies[0], b)
	}
	assert.Equal(t, int64(n), e.srv.ThumbnailCount(uuid))
	assert.Empty(t, e.tmpFiles())
}
