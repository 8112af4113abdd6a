package remote

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Base returns the app's base URL, without a trailing slash:
// {BaseURL}/app-id/{AppID} (Shengwang IM) or {BaseURL}/{Org}/{App} (Agora
// Chat, Easemob). Call Validate first; Base does not check its input.
func (e Endpoint) Base() string {
	base := strings.TrimRight(e.BaseURL, "/")
	if e.AppID != "" {
		return base + "/app-id/" + e.AppID
	}
	return base + "/" + e.Org + "/" + e.App
}

// Validate reports whether e names one app on one deployment: BaseURL is an
// absolute http(s) URL without query or fragment, and exactly one of AppID
// or the Org/App pair is set, each a single safe path segment.
func (e Endpoint) Validate() error {
	u, err := url.Parse(e.BaseURL)
	if err != nil {
		return fmt.Errorf("remote: base URL %q: %w", e.BaseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("remote: base URL %q: scheme must be http or https", e.BaseURL)
	}
	if u.Host == "" {
		return fmt.Errorf("remote: base URL %q: no host", e.BaseURL)
	}
	// "https://h?" and "https://h#" parse with an empty query or fragment,
	// but Base would then put the app's path after the '?' or '#'.
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(e.BaseURL, "?#") || u.User != nil {
		return fmt.Errorf("remote: base URL %q: must not carry a query, fragment or user info", e.BaseURL)
	}
	switch {
	case e.AppID != "" && (e.Org != "" || e.App != ""):
		return errors.New("remote: endpoint: set either the app id or org and app, not both")
	case e.AppID != "":
		return validSegment("app id", e.AppID)
	case e.Org == "" && e.App == "":
		return errors.New("remote: endpoint: no app id and no org/app")
	}
	if err := validSegment("org name", e.Org); err != nil {
		return err
	}
	return validSegment("app name", e.App)
}

// validSegment accepts s as one path segment that needs no escaping and
// cannot climb out of the base path.
func validSegment(what, s string) error {
	if s == "" {
		return fmt.Errorf("remote: endpoint: empty %s", what)
	}
	if strings.Contains(s, "..") {
		return fmt.Errorf("remote: endpoint: %s %q contains \"..\"", what, s)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`/?#%\`, r) {
			return fmt.Errorf("remote: endpoint: %s %q contains %q", what, s, r)
		}
	}
	return nil
}

// ParseMessageURL extracts the uuid and the share-secret (empty when absent)
// from a file URL as chat messages and callbacks carry it:
// https://host/{org}/{app}/chatfiles/{uuid}?share-secret={secret}.
// The uuid is the last path segment after /chatfiles/ and must be valid.
func ParseMessageURL(u string) (uuid, secret string, err error) {
	p, err := url.Parse(u)
	if err != nil {
		// A *url.Error quotes the whole URL, share-secret included: keep
		// only its reason.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return "", "", fmt.Errorf("remote: message URL: %w", err)
	}
	path := strings.TrimSuffix(p.Path, "/")
	i := strings.LastIndex(path, "/chatfiles/")
	if i < 0 {
		return "", "", fmt.Errorf("remote: message URL %q: no /chatfiles/ in path", clip(redactURL(p)))
	}
	uuid = path[i+len("/chatfiles/"):]
	if !ValidUUID(uuid) {
		return "", "", fmt.Errorf("remote: message URL %q: %q is not a chatfiles uuid", clip(redactURL(p)), clip(uuid))
	}
	return uuid, p.Query().Get("share-secret"), nil
}

// clip keeps what an error message quotes of its input short.
func clip(s string) string {
	const n = 100
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// redactURL renders u without its query, so that a share-secret never ends
// up in an error message or a log.
func redactURL(u *url.URL) string {
	c := *u
	c.RawQuery = ""
	c.Fragment = ""
	c.User = nil
	return c.String()
}
