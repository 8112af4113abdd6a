package faults

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Injector decides and injects faults. It is safe for concurrent use.
type Injector struct {
	// Read only after New.
	stallFor   time.Duration
	stallDrop  float64
	retryAfter time.Duration

	rates atomic.Pointer[Table] // replaced whole by SetRates

	mu  sync.Mutex // protects rng; held only to draw numbers
	rng *rand.Rand // GUARDED_BY(mu)

	requests [NumEndpoints]atomic.Int64
	faults   [NumEndpoints][NumKinds]atomic.Int64
}

// New checks o and returns an Injector.
func New(o Options) (*Injector, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.StallFor == 0 {
		o.StallFor = DefaultStallFor
	}
	in := &Injector{
		stallFor:   o.StallFor,
		stallDrop:  o.StallDrop,
		retryAfter: o.RetryAfter,
		rng:        rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
	}
	in.rates.Store(&o.Rates)
	return in, nil
}

// SetRates replaces the rates of every endpoint, for the requests that
// arrive from now on. SetRates(Table{}) turns all faults off.
func (in *Injector) SetRates(t Table) error {
	if err := t.Validate(); err != nil {
		return err
	}
	in.rates.Store(&t)
	return nil
}

// Rates returns the rates in force.
func (in *Injector) Rates() Table { return *in.rates.Load() }

// Counts is a snapshot of an Injector's counters.
type Counts struct {
	Requests [NumEndpoints]int64           // requests seen, per endpoint
	Faults   [NumEndpoints][NumKinds]int64 // faults injected, per endpoint and kind
}

// Counts returns the counters. Each counter is read atomically, but
// requests in flight may be counted in one and not yet in another.
func (in *Injector) Counts() Counts {
	var c Counts
	for e := range NumEndpoints {
		c.Requests[e] = in.requests[e].Load()
		for k := range NumKinds {
			c.Faults[e][k] = in.faults[e][k].Load()
		}
	}
	return c
}

// Kind is the number of faults of kind k injected, all endpoints together.
func (c Counts) Kind(k Kind) int64 {
	var n int64
	for e := range NumEndpoints {
		n += c.Faults[e][k]
	}
	return n
}

// Total is the number of faults injected.
func (c Counts) Total() int64 {
	var n int64
	for k := range NumKinds {
		n += c.Kind(k)
	}
	return n
}

// String renders the counters of the endpoints that saw requests, e.g.
// "upload: 120 requests, 500×10 drop×4; download: 30 requests, none".
func (c Counts) String() string {
	var parts []string
	for e := range NumEndpoints {
		if c.Requests[e] == 0 {
			continue
		}
		var fs []string
		for k := range NumKinds {
			if n := c.Faults[e][k]; n > 0 {
				fs = append(fs, fmt.Sprintf("%s×%d", k, n))
			}
		}
		if len(fs) == 0 {
			fs = []string{"none"}
		}
		parts = append(parts, fmt.Sprintf("%s: %d requests, %s", e, c.Requests[e], strings.Join(fs, " ")))
	}
	if len(parts) == 0 {
		return "no requests"
	}
	return strings.Join(parts, "; ")
}

// decision is what happens to one request.
type decision struct {
	kind      Kind    // NumKinds: no fault
	cut       float64 // in [0, 1): where a body is cut, as a fraction of its length
	stallDrop bool    // a stall ends with a dropped connection
}

// decide draws the fate of one request to e. Every request draws exactly
// three numbers, so the sequence does not depend on the outcomes.
func (in *Injector) decide(e Endpoint) decision {
	rates := in.rates.Load()[e]
	in.mu.Lock()
	u, cut, sd := in.rng.Float64(), in.rng.Float64(), in.rng.Float64()
	in.mu.Unlock()
	d := decision{kind: NumKinds, cut: cut, stallDrop: sd < in.stallDrop}
	acc := 0.0
	for k, p := range rates {
		acc += p
		if u < acc {
			d.kind = Kind(k)
			break
		}
	}
	return d
}

// Wrap returns a handler that injects faults in front of h.
func (in *Injector) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { in.serve(h, w, r) })
}

// Proxy returns a handler that forwards requests to target (a base URL:
// the request's path is appended to target's) with faults injected.
// Answers, redirects included, are passed back unchanged and streamed.
func (in *Injector) Proxy(target *url.URL) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		FlushInterval: -1,
	}
	return in.Wrap(rp)
}

// maxDrain bounds the request body read before a status fault answers, so
// that the client sees the answer rather than a reset while still sending.
const maxDrain = 256 << 20

func (in *Injector) serve(h http.Handler, w http.ResponseWriter, r *http.Request) {
	e := Classify(r)
	in.requests[e].Add(1)
	d := in.decide(e)
	if d.kind == NumKinds {
		h.ServeHTTP(w, r)
		return
	}
	in.faults[e][d.kind].Add(1)
	switch d.kind {
	case Status500:
		in.answer(w, r, http.StatusInternalServerError, "internal_server_error", "injected fault: internal server error")
	case Status503:
		in.answer(w, r, http.StatusServiceUnavailable, "service_unavailable", "injected fault: service unavailable")
	case Status429:
		in.answer(w, r, http.StatusTooManyRequests, "reach_limit", "This request has reached API limit.")
	case Drop:
		dropConn(w)
	case Stall:
		if !in.stall(r) {
			return // the client went away
		}
		if d.stallDrop {
			dropConn(w)
			return
		}
		h.ServeHTTP(w, r)
	case DropBody, Truncate:
		cw := &cutWriter{w: w, cut: d.cut, truncate: d.kind == Truncate, limit: -1}
		h.ServeHTTP(cw, r)
		cw.finish()
	}
}

// errorBody is the service's error answer shape.
type errorBody struct {
	Error       string `json:"error"`
	Exception   string `json:"exception"`
	Timestamp   int64  `json:"timestamp"`
	Duration    int    `json:"duration"`
	Description string `json:"error_description"`
}

// answer reads (a bounded part of) the request body and answers status
// with an error body of the service's shape.
func (in *Injector) answer(w http.ResponseWriter, r *http.Request, status int, code, desc string) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDrain))
	data, _ := json.Marshal(errorBody{
		Error:       code,
		Exception:   "chatfs.faults.InjectedFault",
		Timestamp:   time.Now().UnixMilli(),
		Description: desc,
	})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	if in.retryAfter > 0 && (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) {
		h.Set("Retry-After", strconv.FormatInt(int64(max(in.retryAfter.Round(time.Second), time.Second)/time.Second), 10))
	}
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// stall holds the request for stallFor; false when the client left first.
func (in *Injector) stall(r *http.Request) bool {
	t := time.NewTimer(in.stallFor)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// dropConn closes the connection under w before anything is written.
func dropConn(w http.ResponseWriter) { closeConn(http.NewResponseController(w)) }

// closeConn hijacks the connection and closes it. Where it cannot be
// hijacked (HTTP/2) it aborts the handler, which resets the stream.
func closeConn(rc *http.ResponseController) {
	conn, _, err := rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}
