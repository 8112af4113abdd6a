package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote/faults"
)

const testUUID = "5fd74830-5796-11e9-9ed2-2b3b4c4a1e5f"

var (
	fileBody   = strings.Repeat("0123456789", 1000) // 10,000 bytes
	answerBody = `{"action":"post","entities":[{"uuid":"` + testUUID + `"}]}`
)

// backend serves fileBody with a Content-Length to downloads, and
// answerBody without one (written in two pieces) to everything else.
func backend() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if faults.Classify(r) == faults.Download {
			w.Header().Set("Content-Length", fmt.Sprint(len(fileBody)))
			_, _ = io.WriteString(w, fileBody)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answerBody[:10])
		http.NewResponseController(w).Flush()
		_, _ = io.WriteString(w, answerBody[10:])
	})
}

// only returns Options with rate p for fault k on endpoint e.
func only(e faults.Endpoint, k faults.Kind, p float64) faults.Options {
	var o faults.Options
	o.Rates[e][k] = p
	return o
}

func serve(t *testing.T, o faults.Options) (*faults.Injector, *httptest.Server) {
	t.Helper()
	in, err := faults.New(o)
	require.NoError(t, err)
	srv := httptest.NewServer(in.Wrap(backend()))
	t.Cleanup(srv.Close)
	return in, srv
}

// plainClient opens a new connection per request, so that the transport
// never retries a request on its own after a dropped reused connection.
func plainClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
}

func get(t *testing.T, srv *httptest.Server) (*http.Response, error) {
	t.Helper()
	return plainClient().Get(srv.URL + "/org/app/chatfiles/" + testUUID)
}

func post(t *testing.T, srv *httptest.Server) (*http.Response, error) {
	t.Helper()
	return plainClient().Post(srv.URL+"/org/app/chatfiles", "multipart/form-data; boundary=x", strings.NewReader(strings.Repeat("u", 100_000)))
}

func TestStatusFaults(t *testing.T) {
	for _, tt := range []struct {
		kind   faults.Kind
		status int
		code   string
		desc   string
	}{
		{faults.Status500, 500, "internal_server_error", ""},
		{faults.Status503, 503, "service_unavailable", ""},
		{faults.Status429, 429, "reach_limit", "This request has reached API limit."},
	} {
		t.Run(tt.kind.String(), func(t *testing.T) {
			o := only(faults.Upload, tt.kind, 1)
			o.RetryAfter = 1500 * time.Millisecond
			in, srv := serve(t, o)
			resp, err := post(t, srv)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var body map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			for _, key := range []string{"error", "exception", "timestamp", "duration", "error_description"} {
				assert.Contains(t, body, key)
			}
			assert.Equal(t, tt.code, body["error"])
			if tt.desc != "" {
				assert.Equal(t, tt.desc, body["error_description"])
			}
			if tt.status == 500 {
				assert.Empty(t, resp.Header.Get("Retry-After"))
			} else {
				assert.Equal(t, "2", resp.Header.Get("Retry-After"))
			}
			// Downloads are spared.
			resp, err = get(t, srv)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, 200, resp.StatusCode)
			c := in.Counts()
			t.Log(c)
			assert.EqualValues(t, 1, c.Faults[faults.Upload][tt.kind])
			assert.EqualValues(t, 1, c.Total())
			assert.EqualValues(t, 1, c.Requests[faults.Upload])
			assert.EqualValues(t, 1, c.Requests[faults.Download])
		})
	}
}

func TestDrop(t *testing.T) {
	var o faults.Options
	o.Rates[faults.Upload][faults.Drop] = 1
	o.Rates[faults.Download][faults.Drop] = 1
	in, srv := serve(t, o)
	_, err := get(t, srv)
	require.Error(t, err)
	_, err = post(t, srv)
	require.Error(t, err)
	assert.EqualValues(t, 2, in.Counts().Kind(faults.Drop))
}

// readAll reads a response and closes it.
func readAll(t *testing.T, resp *http.Response) (string, error) {
	t.Helper()
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return string(data), err
}

func TestDropBodyAndTruncate(t *testing.T) {
	for _, kind := range []faults.Kind{faults.DropBody, faults.Truncate} {
		t.Run(kind.String(), func(t *testing.T) {
			in, srv := serve(t, only(faults.Download, kind, 1))
			for range 5 {
				resp, err := get(t, srv)
				require.NoError(t, err)
				assert.Equal(t, 200, resp.StatusCode)
				assert.EqualValues(t, len(fileBody), resp.ContentLength, "the full length is announced")
				got, err := readAll(t, resp)
				assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
				assert.Less(t, len(got), len(fileBody))
				assert.True(t, strings.HasPrefix(fileBody, got), "the part sent is the start of the body")
			}
			assert.EqualValues(t, 5, in.Counts().Faults[faults.Download][kind])
		})
	}
}

func TestTruncateAnnouncesLengthOfUnannouncedBody(t *testing.T) {
	_, srv := serve(t, only(faults.Upload, faults.Truncate, 1))
	resp, err := post(t, srv)
	require.NoError(t, err)
	assert.EqualValues(t, len(answerBody), resp.ContentLength)
	got, err := readAll(t, resp)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.True(t, strings.HasPrefix(answerBody, got))
}

func TestDropBodyOfUnannouncedBody(t *testing.T) {
	_, srv := serve(t, only(faults.Upload, faults.DropBody, 1))
	resp, err := post(t, srv)
	require.NoError(t, err)
	assert.EqualValues(t, -1, resp.ContentLength, "chunked")
	got, err := readAll(t, resp)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.True(t, strings.HasPrefix(answerBody, got))
}

func TestStall(t *testing.T) {
	o := only(faults.Download, faults.Stall, 1)
	o.StallFor = 150 * time.Millisecond
	in, srv := serve(t, o)
	start := time.Now()
	resp, err := get(t, srv)
	require.NoError(t, err)
	got, err := readAll(t, resp)
	require.NoError(t, err)
	assert.Equal(t, fileBody, got, "after the stall the answer is whole")
	assert.GreaterOrEqual(t, time.Since(start), o.StallFor)
	assert.EqualValues(t, 1, in.Counts().Faults[faults.Download][faults.Stall])

	o.StallDrop = 1
	_, srv = serve(t, o)
	start = time.Now()
	_, err = get(t, srv)
	require.Error(t, err, "the stall ends with a drop")
	assert.GreaterOrEqual(t, time.Since(start), o.StallFor)
}

func TestStallEndsWhenClientLeaves(t *testing.T) {
	o := only(faults.Download, faults.Stall, 1)
	o.StallFor = faults.MaxStallFor
	_, srv := serve(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/a/b/chatfiles/"+testUUID, nil)
	require.NoError(t, err)
	_, err = plainClient().Do(req)
	require.Error(t, err)
	start := time.Now()
	srv.Close() // waits for the handler
	assert.Less(t, time.Since(start), 5*time.Second)
}

// statuses serves n requests in process and returns their statuses.
func statuses(in *faults.Injector, n int) []int {
	h := in.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	out := make([]int, n)
	for i := range out {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
		out[i] = rec.Code
	}
	return out
}

func TestRatesHonoured(t *testing.T) {
	const n = 4000
	rates := map[int]float64{500: 0.1, 503: 0.2, 429: 0.05, 200: 0.65}
	var o faults.Options
	o.Seed = 42
	o.Rates[faults.Other] = faults.Rates{faults.Status500: 0.1, faults.Status503: 0.2, faults.Status429: 0.05}
	in, err := faults.New(o)
	require.NoError(t, err)
	seen := map[int]int{}
	for _, s := range statuses(in, n) {
		seen[s]++
	}
	t.Logf("seen %v; counts %v", seen, in.Counts())
	for status, p := range rates {
		sigma := math.Sqrt(n * p * (1 - p))
		assert.InDelta(t, n*p, seen[status], 5*sigma, "status %d", status)
	}
	c := in.Counts()
	assert.EqualValues(t, n, c.Requests[faults.Other])
	assert.EqualValues(t, seen[500], c.Faults[faults.Other][faults.Status500])
	assert.EqualValues(t, seen[503], c.Faults[faults.Other][faults.Status503])
	assert.EqualValues(t, seen[429], c.Faults[faults.Other][faults.Status429])
	assert.EqualValues(t, n-seen[200], c.Total())
}

func TestSeedIsDeterministic(t *testing.T) {
	mk := func(seed uint64) []int {
		o := only(faults.Other, faults.Status500, 0.5)
		o.Seed = seed
		in, err := faults.New(o)
		require.NoError(t, err)
		return statuses(in, 200)
	}
	assert.Equal(t, mk(1), mk(1))
	assert.NotEqual(t, mk(1), mk(2))
}

func TestSetRatesAtRunTime(t *testing.T) {
	in, err := faults.New(only(faults.Other, faults.Status503, 1))
	require.NoError(t, err)
	assert.Equal(t, []int{503, 503}, statuses(in, 2))
	require.NoError(t, in.SetRates(faults.Table{}))
	assert.Equal(t, []int{200, 200}, statuses(in, 2))
	assert.Equal(t, faults.Table{}, in.Rates())

	var bad faults.Table
	bad[faults.Other][faults.Drop] = 0.7
	bad[faults.Other][faults.Stall] = 0.7
	require.Error(t, in.SetRates(bad))
	assert.Equal(t, faults.Table{}, in.Rates(), "a refused table changes nothing")
	c := in.Counts()
	assert.EqualValues(t, 4, c.Requests[faults.Other])
	assert.EqualValues(t, 2, c.Total())
}

func TestConcurrentUse(t *testing.T) {
	in, err := faults.New(only(faults.Other, faults.Status429, 0.3))
	require.NoError(t, err)
	var wg sync.WaitGroup
	got := make([][]int, 8)
	for i := range got {
		wg.Go(func() { got[i] = statuses(in, 250) })
	}
	// Rates change while requests run.
	for range 10 {
		require.NoError(t, in.SetRates(only(faults.Other, faults.Status429, 0.5).Rates))
		_ = in.Counts()
	}
	wg.Wait()
	var limited int64
	for _, s := range got {
		for _, code := range s {
			if code == 429 {
				limited++
			}
		}
	}
	c := in.Counts()
	assert.EqualValues(t, 2000, c.Requests[faults.Other])
	assert.Equal(t, limited, c.Faults[faults.Other][faults.Status429])
}

func TestProxy(t *testing.T) {
	back := httptest.NewServer(backend())
	t.Cleanup(back.Close)
	target, err := url.Parse(back.URL)
	require.NoError(t, err)
	in, err := faults.New(faults.Options{})
	require.NoError(t, err)
	srv := httptest.NewServer(in.Proxy(target))
	t.Cleanup(srv.Close)

	resp, err := get(t, srv)
	require.NoError(t, err)
	got, err := readAll(t, resp)
	require.NoError(t, err)
	assert.Equal(t, fileBody, got)

	require.NoError(t, in.SetRates(only(faults.Download, faults.Truncate, 1).Rates))
	resp, err = get(t, srv)
	require.NoError(t, err)
	got, err = readAll(t, resp)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Less(t, len(got), len(fileBody))

	require.NoError(t, in.SetRates(only(faults.Upload, faults.Status429, 1).Rates))
	resp, err = post(t, srv)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 429, resp.StatusCode)
	t.Log(in.Counts())
}
