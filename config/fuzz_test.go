package config_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/remote"
)

// FuzzParse checks that Parse never panics, and that a config it accepts
// validates again unchanged, names its apps uniquely with safe directory
// names, and describes endpoints the remote client accepts: whatever
// passes the config is mountable.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"[[app]]\nhost = \"https://a1.easemob.com\"\norg = \"acme\"\napp = \"chat\"\n",
		"state = \"/tmp/s\"\ncache_size = 1000\n[[app]]\nname = \"work\"\nhost = \"http://127.0.0.1:8080/\"\napp_id = \"970CA35de60c44645bbae8a215061b33\"\nthumbnail_size = \"170x170\"\nmax_size = 10485760\nrestrict_access = true\n",
		"[[app]]\nhost = \"http://example.com\"\napp_id = \"a\"\nallow_plain_http = true\n",
		"[[app]]\nhost = \"https://h\"\napp_id = \"a\"\n[[app]]\nhost = \"https://h\"\napp_id = \"a\"\n",
		"[[app]]\nname = \"../x\"\nhost = \"https://h\"\napp_id = \"a\"\n",
		"[[app]]\nhost = \"https://h?\"\napp_id = \"a\"\n",
		"[[app]]\nhost = \"https://h#\"\napp_id = \"a\"\n",
		"[[app]]\nhost = \"https://h\"\napp_id = \"a..b\"\n",
		"[[app]]\nhost = \"https://h\"\napp_id = \"a\"\nthumbnail_size = \"99999x99999\"\n",
		"[[app]]\nhost = \"https://h\"\napp_id = \"a\"\nmax_size = -1\n",
		"[[app]]\nhost = \"https://h\"\napp_id = \"a\"\ncolour = \"blue\"\n",
		"[[app]]\nhost = \"https://h\"\napp_id = \"970CA35de60c44645bbae8a215061b33\"\napp_certificate_file = \"/c\"\ntoken_lifetime = \"12h\"\n",
		"[app]\nhost = 1\n",
		"", "\x00", "[[app]]\n[[app]]\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		c, err := config.Parse([]byte(data))
		if err != nil {
			if c != nil {
				t.Fatal("a config with an error")
			}
			return
		}
		names := map[string]bool{}
		for _, a := range c.Apps {
			names[a.Name] = true
		}
		before := *c
		before.Apps = append([]config.App(nil), c.Apps...)
		if err := c.Validate(); err != nil {
			t.Fatalf("a parsed config does not validate again: %v", err)
		}
		for i, a := range c.Apps {
			if a != before.Apps[i] {
				t.Fatalf("Validate changed app %d: %+v to %+v", i, before.Apps[i], a)
			}
			if a.Name == "" || strings.ContainsAny(a.Name, "/\\\x00") || strings.HasPrefix(a.Name, ".") {
				t.Fatalf("unsafe directory name %q", a.Name)
			}
			ep := remote.Endpoint{BaseURL: a.Host, AppID: a.AppID, Org: a.Org, App: a.AppName}
			if err := ep.Validate(); err != nil {
				t.Fatalf("app %q passes the config but not the client: %v", a.Name, err)
			}
			// The base URL the client builds keeps the app in its path.
			want := "/app-id/" + a.AppID
			if a.AppID == "" {
				want = "/" + a.Org + "/" + a.AppName
			}
			if u, err := url.Parse(ep.Base()); err != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || !strings.HasSuffix(u.Path, want) {
				t.Fatalf("host %q and app %q make the base URL %q", a.Host, want, ep.Base())
			}
			if w, h, err := a.Thumbnail(); err != nil || w < 0 || h < 0 || w > 10000 || h > 10000 {
				t.Fatalf("thumbnail %q: %d %d %v", a.ThumbnailSize, w, h, err)
			}
			if a.MaxSize < 0 {
				t.Fatalf("negative max_size %d", a.MaxSize)
			}
		}
		if len(names) != len(c.Apps) {
			t.Fatalf("app names not unique: %d names for %d apps", len(names), len(c.Apps))
		}
		if c.CacheSize < 0 {
			t.Fatalf("negative cache_size %d", c.CacheSize)
		}
	})
}
