// Package config describes what chatfs mounts: one or more apps, where
// state lives, and limits. It is read from a TOML file (--config) or built
// from command-line flags for a single app.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chatfs/chatfs/internal/smallfile"
	"github.com/chatfs/chatfs/remote"

	"github.com/BurntSushi/toml"
)

// App is one app to mount.
type App struct {
	Name           string `toml:"name"`       // directory name; default the app id or org/app
	Host           string `toml:"host"`       // base URL of the service
	AppID          string `toml:"app_id"`     // Shengwang IM shape
	Org            string `toml:"org"`        // Agora Chat / Easemob shape
	AppName        string `toml:"app"`        // Agora Chat / Easemob shape: the app within Org
	TokenFile      string `toml:"token_file"` // app token, re-read on 401
	Restrict       bool   `toml:"restrict_access"`
	ThumbnailSize  string `toml:"thumbnail_size"` // "WxH"
	MaxSize        int64  `toml:"max_size"`
	AllowPlainHTTP bool   `toml:"allow_plain_http"` // http:// to a non-loopback host
	SendAs         string `toml:"send_as"`          // sender of messages from send/; default admin

	// Retention is how long the app's service keeps files ("168h", the
	// service's default, when not set): user.chatfs.expires is the upload
	// time plus it, until the server answers file_expired earlier.
	Retention time.Duration `toml:"retention"`

	// The message history import (see history.go): the window ("72h"
	// when not set, "0" off), the hours' time zone and the interval.
	History         *time.Duration `toml:"history"`
	HistoryTZ       string         `toml:"history_tz"`
	HistoryInterval time.Duration  `toml:"history_interval"`
	// LifetimeUser is the user the lifetime API (user.chatfs.lifetime) is
	// called for; "admin" when not set.
	LifetimeUser string `toml:"lifetime_user"`

	// Credentials that make chatfs obtain and renew its own app tokens; at
	// most one kind per app: token_file, app_certificate_file, or client_id
	// with client_secret_file. With none, the token comes from CHATFS_TOKEN.
	AppCertificateFile string        `toml:"app_certificate_file"` // generate AccessToken2 app tokens
	TokenAppID         string        `toml:"token_app_id"`         // App ID of generated tokens; default app_id
	TokenLifetime      time.Duration `toml:"token_lifetime"`       // of generated tokens, "1m" to "24h"; default 24h
	ClientID           string        `toml:"client_id"`            // Easemob / Agora Chat client_credentials
	ClientSecretFile   string        `toml:"client_secret_file"`   // the client secret, read again before each token request
}

// Config is a whole mount.
type Config struct {
	State     string `toml:"state"`      // puts index, outbox and cache under one directory
	CacheSize int64  `toml:"cache_size"` // bytes
	Apps      []App  `toml:"app"`
	// DesktopThumbnails, false, leaves the desktop's thumbnail cache
	// alone; unset or true, listings fill it from the server's thumbnails.
	DesktopThumbnails *bool `toml:"desktop_thumbnails"`
}

// maxConfig bounds the size of a config file (a device such as /dev/zero
// would otherwise be read for ever).
const maxConfig = 1 << 20

// Load reads a TOML config file. Unknown keys are errors, so a typo is not
// silently ignored.
func Load(path string) (*Config, error) {
	data, _, err := smallfile.Read(path, maxConfig)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data)
}

// Parse parses and validates a TOML config.
func Parse(data []byte) (*Config, error) {
	var c Config
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("config: unknown key %q", und[0].String())
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks every app and fills default names.
func (c *Config) Validate() error {
	if len(c.Apps) == 0 {
		return errors.New("config: no [[app]] given")
	}
	if c.CacheSize < 0 {
		return errors.New("config: cache_size must not be negative")
	}
	seen := map[string]bool{}
	for i := range c.Apps {
		a := &c.Apps[i]
		if err := a.Validate(); err != nil {
			return fmt.Errorf("config: app %d: %w", i+1, err)
		}
		if seen[a.Name] {
			return fmt.Errorf("config: two apps named %q", a.Name)
		}
		seen[a.Name] = true
	}
	return nil
}

// Validate checks one app and fills its default name.
func (a *App) Validate() error {
	if a.AppID != "" && (a.Org != "" || a.AppName != "") {
		return errors.New("give app_id or org and app, not both")
	}
	if a.AppID == "" && (a.Org == "" || a.AppName == "") {
		return errors.New("give app_id, or both org and app")
	}
	for _, s := range []string{a.AppID, a.Org, a.AppName} {
		// ".." anywhere is refused, as the remote client refuses it.
		if s != "" && (!validSegment(s) || strings.Contains(s, "..")) {
			return fmt.Errorf("%q is not a valid app id, org or app name", s)
		}
	}
	if a.Name == "" {
		a.Name = a.AppID
		if a.Name == "" {
			a.Name = a.Org + "-" + a.AppName
		}
	}
	if !validSegment(a.Name) || strings.HasPrefix(a.Name, ".") {
		return fmt.Errorf("%q is not a valid directory name", a.Name)
	}
	if err := CheckHost(a.Host, a.AllowPlainHTTP); err != nil {
		return err
	}
	if _, _, err := a.Thumbnail(); err != nil {
		return err
	}
	if a.MaxSize < 0 {
		return errors.New("max_size must not be negative")
	}
	if a.Retention < 0 {
		return errors.New("retention must not be negative")
	}
	if err := a.validateHistory(); err != nil {
		return err
	}
	if a.LifetimeUser != "" && !remote.ValidUserName(a.LifetimeUser) {
		return fmt.Errorf("lifetime_user %q: want 1 to 64 letters, digits, '_', '-' or '.'", a.LifetimeUser)
	}
	return a.validateCredentials()
}

// Token lifetimes accepted for generated tokens (the service's maximum is
// 24h; accesstoken.Source refuses less than a minute).
const (
	MinTokenLifetime = time.Minute
	MaxTokenLifetime = 24 * time.Hour
)

// validateCredentials checks that at most one kind of credential is given,
// and that each is complete.
func (a *App) validateCredentials() error {
	kinds := 0
	for _, set := range []bool{a.TokenFile != "", a.AppCertificateFile != "", a.ClientID != "" || a.ClientSecretFile != ""} {
		if set {
			kinds++
		}
	}
	if kinds > 1 {
		return errors.New("give one kind of credential: token_file, app_certificate_file, or client_id with client_secret_file")
	}
	if (a.ClientID == "") != (a.ClientSecretFile == "") {
		return errors.New("client_id and client_secret_file go together")
	}
	if a.AppCertificateFile == "" {
		if a.TokenLifetime != 0 || a.TokenAppID != "" {
			return errors.New("token_lifetime and token_app_id apply to app_certificate_file only")
		}
		return nil
	}
	if a.TokenLifetime != 0 && (a.TokenLifetime < MinTokenLifetime || a.TokenLifetime > MaxTokenLifetime) {
		return fmt.Errorf("token_lifetime %v: want %v to %v, e.g. \"12h\"", a.TokenLifetime, MinTokenLifetime, MaxTokenLifetime)
	}
	if !isHex32(a.GeneratedAppID()) {
		return errors.New("app_certificate_file needs the App ID (32 hex characters) the tokens are for: set token_app_id (--token-app-id)")
	}
	return nil
}

// GeneratedAppID is the App ID that tokens generated from the App
// Certificate name: TokenAppID, else AppID.
func (a *App) GeneratedAppID() string {
	if a.TokenAppID != "" {
		return a.TokenAppID
	}
	return a.AppID
}

// isHex32 reports whether s is 32 hexadecimal characters.
func isHex32(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// Thumbnail parses ThumbnailSize; 0, 0 when not set.
func (a *App) Thumbnail() (w, h int, err error) {
	return ParseSize(a.ThumbnailSize)
}

// ParseSize parses "WxH" with both in 1..10000.
func ParseSize(s string) (w, h int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	ws, hs, ok := strings.Cut(strings.ToLower(s), "x")
	w, err1 := strconv.Atoi(ws)
	h, err2 := strconv.Atoi(hs)
	if !ok || err1 != nil || err2 != nil || w < 1 || h < 1 || w > 10000 || h > 10000 {
		return 0, 0, fmt.Errorf("thumbnail size %q: want WxH, e.g. 170x170", s)
	}
	return w, h, nil
}

// CheckHost accepts https URLs, and http only to a loopback address unless
// allowPlain: tokens must not cross a network in clear text.
func CheckHost(host string, allowPlain bool) error {
	if host == "" {
		return errors.New("host is required")
	}
	u, err := url.Parse(host)
	// A bare '?' or '#' parses to an empty query or fragment, but would
	// end up before the app's path in every request URL.
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || strings.ContainsAny(host, "?#") || u.User != nil {
		return fmt.Errorf("host %q: want scheme://host[:port]", host)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if allowPlain || isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("host %q: plain http sends the token in clear text; use https, or allow_plain_http (--allow-plain-http) to insist", host)
	}
	return fmt.Errorf("host %q: scheme must be https", host)
}

func isLoopback(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// validSegment: a single URL path segment and file name.
func validSegment(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r < 0x21 || r == 0x7f || strings.ContainsRune(`/\?#%`, r) {
			return false
		}
	}
	return true
}

// Dirs are where a mount keeps its state.
type Dirs struct {
	Data  string // index and outbox: must survive, never in a cache directory
	Cache string // download cache
	State string // the --state directory holding both, if given
}

// StateDirs resolves the state directories: under state when given, else
// $XDG_DATA_HOME/chatfs and $XDG_CACHE_HOME/chatfs.
func StateDirs(state string) (Dirs, error) {
	if state != "" {
		abs, err := filepath.Abs(state)
		if err != nil {
			return Dirs{}, err
		}
		return Dirs{Data: filepath.Join(abs, "data"), Cache: filepath.Join(abs, "cache"), State: abs}, nil
	}
	home, _ := os.UserHomeDir()
	data := os.Getenv("XDG_DATA_HOME")
	if data == "" {
		data = filepath.Join(home, ".local", "share")
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		cache = filepath.Join(home, ".cache")
	}
	if !filepath.IsAbs(data) || !filepath.IsAbs(cache) {
		return Dirs{}, errors.New("cannot find a home directory for state: set --state")
	}
	return Dirs{Data: filepath.Join(data, "chatfs"), Cache: filepath.Join(cache, "chatfs")}, nil
}
