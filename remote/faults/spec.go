package faults

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Parse reads Options from a compact spec string, as a command-line flag
// gives them, for example
//
//	upload:500=0.1,drop=0.05;download+thumbnail:truncate=0.2;seed=7;stallfor=3s
//
// Grammar (spaces around tokens are ignored; empty groups are skipped):
//
//	spec      = [ group *( ";" group ) ]
//	group     = endpoints ":" rate *( "," rate ) | setting
//	endpoints = "all" | endpoint *( "+" endpoint )
//	endpoint  = "upload" | "download" | "thumbnail" | "token" | "other"
//	rate      = kind "=" probability              ; a number in [0, 1]
//	kind      = "500" | "503" | "429" | "drop" | "dropbody" | "truncate" | "stall"
//	setting   = "seed=" uint64 | "stallfor=" duration | "stalldrop=" probability
//	          | "retryafter=" duration            ; durations as time.ParseDuration
//
// A later assignment replaces an earlier one, so "all:500=0.1;upload:500=0"
// spares uploads. The result is validated (Options.Validate): each
// endpoint's rates must add up to at most 1.
func Parse(spec string) (Options, error) {
	var o Options
	for group := range strings.SplitSeq(spec, ";") {
		group = strings.TrimSpace(group)
		if group == "" {
			continue
		}
		var err error
		if eps, rates, ok := strings.Cut(group, ":"); ok {
			err = o.parseRates(eps, rates)
		} else {
			err = o.parseSetting(group)
		}
		if err != nil {
			return Options{}, fmt.Errorf("faults: spec %q: %w", clip(group), err)
		}
	}
	if err := o.Validate(); err != nil {
		return Options{}, err
	}
	return o, nil
}

func (o *Options) parseRates(eps, rates string) error {
	var which []Endpoint
	eps = strings.TrimSpace(eps)
	if eps == "all" {
		for e := range NumEndpoints {
			which = append(which, e)
		}
	} else {
		for name := range strings.SplitSeq(eps, "+") {
			e, ok := lookup(endpointNames[:], strings.TrimSpace(name))
			if !ok {
				return fmt.Errorf("unknown endpoint %q (want all, %s)", clip(name), strings.Join(endpointNames[:], ", "))
			}
			which = append(which, Endpoint(e))
		}
	}
	for rate := range strings.SplitSeq(rates, ",") {
		name, val, ok := strings.Cut(rate, "=")
		if !ok {
			return fmt.Errorf("rate %q: want KIND=PROBABILITY", clip(rate))
		}
		k, ok := lookup(kindNames[:], strings.TrimSpace(name))
		if !ok {
			return fmt.Errorf("unknown fault %q (want %s)", clip(name), strings.Join(kindNames[:], ", "))
		}
		p, err := parseProb(val)
		if err != nil {
			return err
		}
		for _, e := range which {
			o.Rates[e][k] = p
		}
	}
	return nil
}

func (o *Options) parseSetting(s string) error {
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("want ENDPOINTS:KIND=P,… or a setting NAME=VALUE")
	}
	val = strings.TrimSpace(val)
	var err error
	switch strings.TrimSpace(name) {
	case "seed":
		o.Seed, err = strconv.ParseUint(val, 10, 64)
	case "stallfor":
		o.StallFor, err = time.ParseDuration(val)
	case "retryafter":
		o.RetryAfter, err = time.ParseDuration(val)
	case "stalldrop":
		o.StallDrop, err = parseProb(val)
	default:
		return fmt.Errorf("unknown setting %q (want seed, stallfor, stalldrop, retryafter)", clip(name))
	}
	return err
}

func parseProb(s string) (float64, error) {
	p, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !isProb(p) {
		return 0, fmt.Errorf("probability %q: want a number in [0, 1]", clip(s))
	}
	return p + 0, nil // +0 turns -0 into 0, so that String round-trips
}

func lookup(names []string, s string) (int, bool) {
	for i, n := range names {
		if n == s {
			return i, true
		}
	}
	return 0, false
}

// clip keeps error messages short whatever the input.
func clip(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// String renders o as a spec string that Parse reads back to o: one group
// per endpoint with non-zero rates, then the non-zero settings.
func (o Options) String() string {
	var groups []string
	for e, r := range o.Rates {
		var rates []string
		for k, p := range r {
			if p != 0 {
				rates = append(rates, kindNames[k]+"="+strconv.FormatFloat(p, 'g', -1, 64))
			}
		}
		if len(rates) > 0 {
			groups = append(groups, endpointNames[e]+":"+strings.Join(rates, ","))
		}
	}
	if o.Seed != 0 {
		groups = append(groups, "seed="+strconv.FormatUint(o.Seed, 10))
	}
	if o.StallFor != 0 {
		groups = append(groups, "stallfor="+o.StallFor.String())
	}
	if o.StallDrop != 0 {
		groups = append(groups, "stalldrop="+strconv.FormatFloat(o.StallDrop, 'g', -1, 64))
	}
	if o.RetryAfter != 0 {
		groups = append(groups, "retryafter="+o.RetryAfter.String())
	}
	return strings.Join(groups, ";")
}
