// Package faults injects the failures of a real network and a busy service
// in front of a chatfiles server: 500 and 503 answers, 429 reach_limit,
// connections dropped before the answer or in the middle of a body, bodies
// cut short of their Content-Length, and answers held back for a while.
//
// Model: an Injector decides, for every request, at most one fault from the
// rates (probabilities 0..1) configured for the request's endpoint kind
// (Classify: upload, download, thumbnail, token, other). One seeded PCG
// generator makes the choices, so a sequence of requests made one at a time
// sees the same faults on every run with the same seed; concurrent requests
// draw in arrival order. Injector.Wrap puts the faults in front of any
// http.Handler (the emulator, say) and Proxy in front of a URL. Counts
// reports what was injected, per endpoint and kind, and SetRates changes
// the rates at run time (SetRates of zero rates lets a queue drain).
package faults

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Kind is one kind of fault.
type Kind int

// The fault kinds. String gives their names.
const (
	Status500 Kind = iota // answer 500 with an error body ("500")
	Status503             // answer 503 with an error body ("503")
	Status429             // answer 429 reach_limit ("429")
	Drop                  // close the connection before any answer ("drop")
	DropBody              // send the headers and part of the body, then close ("dropbody")
	Truncate              // announce the full Content-Length, send part, close ("truncate")
	Stall                 // hold the answer for StallFor, then answer or drop ("stall")
	NumKinds              // number of kinds, not a kind
)

var kindNames = [NumKinds]string{"500", "503", "429", "drop", "dropbody", "truncate", "stall"}

// String gives the kind's name, as logs and test failures show it.
func (k Kind) String() string {
	if k < 0 || k >= NumKinds {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Endpoint is a kind of request, as Classify tells them apart.
type Endpoint int

// The endpoint kinds. String gives their names.
const (
	Upload       Endpoint = iota // POST …/chatfiles ("upload")
	Download                     // GET …/chatfiles/{uuid} ("download")
	Thumbnail                    // the same with the header thumbnail: true ("thumbnail")
	Token                        // POST …/token ("token")
	Other                        // anything else ("other")
	NumEndpoints                 // number of endpoint kinds, not one
)

var endpointNames = [NumEndpoints]string{"upload", "download", "thumbnail", "token", "other"}

// String gives the endpoint's name, as logs and test failures show it.
func (e Endpoint) String() string {
	if e < 0 || e >= NumEndpoints {
		return fmt.Sprintf("Endpoint(%d)", int(e))
	}
	return endpointNames[e]
}

// Classify tells which endpoint r calls, from its method, path and the
// thumbnail header.
func Classify(r *http.Request) Endpoint {
	p := strings.TrimSuffix(r.URL.Path, "/")
	switch r.Method {
	case http.MethodPost:
		switch {
		case strings.HasSuffix(p, "/chatfiles"):
			return Upload
		case strings.HasSuffix(p, "/token"):
			return Token
		}
	case http.MethodGet:
		i := strings.LastIndex(p, "/chatfiles/")
		if i >= 0 && !strings.Contains(p[i+len("/chatfiles/"):], "/") {
			if strings.EqualFold(strings.TrimSpace(r.Header.Get("thumbnail")), "true") {
				return Thumbnail
			}
			return Download
		}
	}
	return Other
}

// Rates are the probabilities of each fault kind for one endpoint, indexed
// by Kind. Each is in [0, 1] and they add up to at most 1: a request gets
// at most one fault.
type Rates [NumKinds]float64

// Sum is the probability that a request gets some fault.
func (r Rates) Sum() float64 {
	var s float64
	for _, v := range r {
		s += v
	}
	return s
}

// Table holds the Rates of every endpoint, indexed by Endpoint.
type Table [NumEndpoints]Rates

// Limits and defaults of Options.
const (
	DefaultStallFor = 2 * time.Second
	MaxStallFor     = time.Minute // a stall never holds an answer longer
	MaxRetryAfter   = time.Hour   // longest Retry-After an Options may ask for
)

// Options configure an Injector. The zero value injects nothing.
type Options struct {
	Seed  uint64 // seeds the PCG generator
	Rates Table
	// StallFor is how long a stall holds the answer (default
	// DefaultStallFor, at most MaxStallFor). A stall also ends when the
	// client goes away.
	StallFor time.Duration
	// StallDrop is the probability that a stall ends by dropping the
	// connection rather than answering.
	StallDrop float64
	// RetryAfter, when > 0, is sent as Retry-After (whole seconds, at
	// least 1) with injected 429 and 503 answers.
	RetryAfter time.Duration
}

// sumSlack forgives rounding in rates that add up to 1.
const sumSlack = 1e-9

// Validate checks that every rate is a probability, that each endpoint's
// rates add up to at most 1, and that durations are in range.
func (o Options) Validate() error {
	if err := o.Rates.Validate(); err != nil {
		return err
	}
	if !isProb(o.StallDrop) {
		return fmt.Errorf("faults: stalldrop %v is not in [0, 1]", o.StallDrop)
	}
	if o.StallFor < 0 || o.StallFor > MaxStallFor {
		return fmt.Errorf("faults: stallfor %v is not in [0, %v]", o.StallFor, MaxStallFor)
	}
	if o.RetryAfter < 0 || o.RetryAfter > MaxRetryAfter {
		return fmt.Errorf("faults: retryafter %v is not in [0, %v]", o.RetryAfter, MaxRetryAfter)
	}
	return nil
}

// Validate checks every endpoint's rates.
func (t Table) Validate() error {
	for e, r := range t {
		for k, v := range r {
			if !isProb(v) {
				return fmt.Errorf("faults: %s:%s rate %v is not in [0, 1]", Endpoint(e), Kind(k), v)
			}
		}
		if s := r.Sum(); s > 1+sumSlack {
			return fmt.Errorf("faults: %s rates add up to %v, more than 1", Endpoint(e), s)
		}
	}
	return nil
}

func isProb(v float64) bool { return v >= 0 && v <= 1 } // false for NaN
