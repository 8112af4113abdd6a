package remote_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"mime"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
)

// received is what the upload server saw.
type received struct {
	header     http.Header
	formName   string
	fileName   string
	partType   string
	sha256     string
	size       int64
	parts      int
	contentLen int64
}

// uploadServer reads the multipart body as a stream (never whole) and
// answers like the service.
func uploadServer(t *testing.T) (url string, got func() received) {
	var (
		mu   sync.Mutex
		last received
	)
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := received{header: r.Header.Clone(), contentLen: r.ContentLength}
		mr, err := r.MultipartReader()
		if err != nil {
			status(400, errorBody("illegal_argument", "file must be provided."))(w, r)
			return
		}
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				status(400, errorBody("illegal_argument", err.Error()))(w, r)
				return
			}
			rec.parts++
			rec.formName, rec.fileName, rec.partType = p.FormName(), p.FileName(), p.Header.Get("Content-Type")
			h := sha256.New()
			rec.size, err = io.Copy(h, p)
			if err != nil {
				status(400, errorBody("illegal_argument", err.Error()))(w, r)
				return
			}
			rec.sha256 = hex.EncodeToString(h.Sum(nil))
		}
		mu.Lock()
		last = rec
		mu.Unlock()
		status(200, uploadAnswer("http://"+r.Host, testUUID, testSecret))(w, r)
	}))
	return srv.URL, func() received {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestUploadRequest(t *testing.T) {
	tests := []struct {
		name string
		req  remote.UploadRequest
		want func(t *testing.T, r received)
	}{
		{"plain", remote.UploadRequest{Name: "notes.txt", File: readerAt("hello world"), Size: 11}, func(t *testing.T, r received) {
			assert.Equal(t, "notes.txt", r.fileName)
			assert.Empty(t, r.header.Values("restrict-access"), "restrict-access must be absent")
			assert.Empty(t, r.header.Values("thumbnail-width"))
			assert.Empty(t, r.header.Values("thumbnail-height"))
			assert.Equal(t, sum("hello world"), r.sha256)
			assert.True(t, strings.HasPrefix(r.partType, "text/plain"), r.partType)
		}},
		{"restricted image with thumbnail size", remote.UploadRequest{Name: "photo.jpg", File: readerAt("\xff\xd8jpeg"), Size: 6, Restrict: true, ThumbWidth: 320, ThumbHeight: 200}, func(t *testing.T, r received) {
			assert.Equal(t, []string{"true"}, r.header.Values("restrict-access"))
			assert.Equal(t, "320", r.header.Get("thumbnail-width"))
			assert.Equal(t, "200", r.header.Get("thumbnail-height"))
			assert.Equal(t, "image/jpeg", r.partType)
		}},
		{"name with quotes and backslash", remote.UploadRequest{Name: `my "best" \ file.bin`, File: readerAt("x"), Size: 1}, func(t *testing.T, r received) {
			assert.Equal(t, `my "best" \ file.bin`, r.fileName)
			assert.Equal(t, "application/octet-stream", r.partType)
		}},
		{"unicode name", remote.UploadRequest{Name: "отчёт 2024 — 图片.pdf", File: readerAt("%PDF"), Size: 4}, func(t *testing.T, r received) {
			assert.Equal(t, "отчёт 2024 — 图片.pdf", r.fileName)
		}},
		{"empty file", remote.UploadRequest{Name: "empty", File: readerAt(""), Size: 0}, func(t *testing.T, r received) {
			assert.Equal(t, int64(0), r.size)
			assert.Equal(t, 1, r.parts)
		}},
		{"size shorter than file", remote.UploadRequest{Name: "head", File: readerAt("0123456789"), Size: 4}, func(t *testing.T, r received) {
			assert.Equal(t, sum("0123"), r.sha256)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, got := uploadServer(t)
			c := newClient(t, url)
			res, err := c.Upload(context.Background(), tc.req)
			require.NoError(t, err)
			assert.Equal(t, testUUID, res.UUID)
			assert.Equal(t, testSecret, res.ShareSecret)
			assert.Equal(t, tc.req.Restrict, res.Restricted)
			assert.Equal(t, url+"/app-id/"+testAppID+"/chatfiles/"+testUUID, res.URL())
			assert.Equal(t, int64(1554371126338), res.Timestamp.UnixMilli())
			r := got()
			assert.Equal(t, 1, r.parts)
			assert.Equal(t, "file", r.formName)
			assert.Equal(t, tc.req.Size, r.size)
			assert.Equal(t, "Bearer "+testToken, r.header.Get("Authorization"))
			mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
			require.NoError(t, err)
			assert.Equal(t, "multipart/form-data", mt)
			assert.NotEmpty(t, params["boundary"])
			assert.Greater(t, r.contentLen, tc.req.Size, "Content-Length is announced")
			tc.want(t, r)
		})
	}
}

// patternFile is a large file that exists only as a function of the offset.
type patternFile struct{ size int64 }

func (f patternFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), f.size-off)
	for i := range n {
		x := off + i
		p[i] = byte(x ^ x>>8 ^ x>>16)
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// TestUploadStreamsLargeFile sends 50 MB and checks the server's sha256;
// the whole exchange must allocate far less than the file's size.
func TestUploadStreamsLargeFile(t *testing.T) {
	const size = 50 << 20
	f := patternFile{size: size}
	h := sha256.New()
	_, err := io.Copy(h, io.NewSectionReader(f, 0, size))
	require.NoError(t, err)
	want := hex.EncodeToString(h.Sum(nil))

	url, got := uploadServer(t)
	c := newClient(t, url)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = c.Upload(context.Background(), remote.UploadRequest{Name: "big.bin", File: f, Size: size})
	require.NoError(t, err)
	runtime.ReadMemStats(&after)
	assert.Equal(t, want, got().sha256)
	assert.Equal(t, int64(size), got().size)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(size/4), "upload (client and server) allocated too much")
}

func TestUploadShortFileIsPermanent(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		status(200, uploadAnswer("http://"+r.Host, testUUID, ""))(w, r)
	}}}
	c := newClient(t, newServer(t, s).URL)
	_, err := c.Upload(context.Background(), remote.UploadRequest{Name: "a", File: readerAt("abc"), Size: 10})
	require.ErrorIs(t, err, remote.ErrShortFile)
	assert.False(t, remote.IsRetryable(err))
	assert.LessOrEqual(t, s.count(), 1)
}

func TestUploadMalformedAnswer(t *testing.T) {
	answers := map[string]string{
		"not json":              "<html>ok</html>",
		"no entities":           `{"action":"post","uri":"http://x/chatfiles","entities":[]}`,
		"bad uuid":              `{"action":"post","uri":"http://x/chatfiles","entities":[{"uuid":"../../etc/passwd","type":"chatfile"}]}`,
		"upper uuid":            `{"action":"post","uri":"http://x/chatfiles","entities":[{"uuid":"5FD74830-5796-11E9-9ED2-2B3B4C4A1E5F"}]}`,
		"secret with a newline": `{"action":"post","uri":"http://x/chatfiles","entities":[{"uuid":"5fd74830-5796-11e9-9ed2-2b3b4c4a1e5f","share-secret":"abc\ndef"}]}`,
		"secret with an escape": `{"action":"post","uri":"http://x/chatfiles","entities":[{"uuid":"5fd74830-5796-11e9-9ed2-2b3b4c4a1e5f","share-secret":"abc\u001b[2Jdef"}]}`,
		"secret of 257 bytes": `{"action":"post","uri":"http://x/chatfiles","entities":[{"uuid":"5fd74830-5796-11e9-9ed2-2b3b4c4a1e5f","share-secret":"` +
			strings.Repeat("s", 257) + `"}]}`,
	}
	for name, body := range answers {
		t.Run(name, func(t *testing.T) {
			s := &script{steps: []http.HandlerFunc{status(200, body)}}
			c := newClient(t, newServer(t, s).URL)
			_, err := c.Upload(context.Background(), remote.UploadRequest{Name: "a", File: readerAt("abc"), Size: 3})
			require.ErrorIs(t, err, remote.ErrMalformedAnswer)
			assert.False(t, remote.IsRetryable(err))
			assert.Equal(t, 1, s.count())
		})
	}
}

func TestUploadResultURL(t *testing.T) {
	r := remote.UploadResult{UUID: testUUID, URI: "https://a1.easemob.com/org/app/chatfiles"}
	assert.Equal(t, "https://a1.easemob.com/org/app/chatfiles/"+testUUID, r.URL())
	r.URI += "/"
	assert.Equal(t, "https://a1.easemob.com/org/app/chatfiles/"+testUUID, r.URL())
}

// TestUploadStalledServer: a server that stops reading the body makes the
// upload fail with ErrIdleTimeout instead of hanging.
func TestUploadStalledServer(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := &script{steps: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}}}
	c := newClient(t, newServer(t, s).URL, func(o *remote.Options) {
		o.IdleBodyTimeout = 300 * time.Millisecond
		o.Retry.MaxAttempts = 1
	})
	start := time.Now()
	_, err := c.Upload(context.Background(), remote.UploadRequest{Name: "big.bin", File: patternFile{size: 256 << 20}, Size: 256 << 20})
	require.ErrorIs(t, err, remote.ErrIdleTimeout)
	assert.True(t, remote.IsRetryable(err))
	assert.Less(t, time.Since(start), 5*time.Second)
}
