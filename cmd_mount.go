package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chatfs/chatfs/internal/smallfile"

	"github.com/chatfs/chatfs/accesstoken"
	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/internal/metrics"
	"github.com/chatfs/chatfs/mount"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
	"github.com/chatfs/chatfs/thumbs"
)

// demoApp is the app of the embedded emulator.
const demoApp = "demo"

// mountArgs is what the mount command line asks for, checked.
type mountArgs struct {
	app        config.App     // from the flags; unused with --config
	cfg        *config.Config // --config's, or one built from the flags
	configFile string
	state      string // --state, as given
	mountpoint string // absolute
	settle     time.Duration
	drain      time.Duration // --drain-timeout
	metrics    string        // --metrics ADDR; "" = none
	metricsLn  net.Listener  // listening on metrics, once runMount opened it
	allowOther bool
	debug      bool
	thumbnails bool // --desktop-thumbnails
}

func runMount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	p, err := parseMount(args, stderr)
	if err != nil {
		return err
	}
	log := newLogger(stderr, p.debug)
	dirs, err := config.StateDirs(p.cfg.State)
	if err != nil {
		return err
	}
	if err := dirs.MakeDirs(); err != nil {
		return err
	}
	// Before the embedded emulator: a second mount on this state must not
	// start one, which would move the port its URLs record.
	lock, err := mount.LockState(dirs)
	if err != nil {
		return err
	}
	defer lock.Unlock()

	apps, stopEmulator, err := buildApps(ctx, p, dirs, log, stdout, stderr)
	if err != nil {
		return err
	}
	defer stopEmulator()
	if p.metrics != "" {
		// Before mounting: a port in use fails the mount, not later.
		if p.metricsLn, err = net.Listen("tcp", p.metrics); err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
		log.Info("serving metrics", "url", "http://"+p.metricsLn.Addr().String()+"/metrics")
	}
	m, err := openMount(ctx, p, dirs, apps, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "chatfs mounted on %s (state in %s). Unmount with: %s %s\n", p.mountpoint, dirs.Data, mount.UnmountCommand, p.mountpoint)
	return serveMount(ctx, m, p.drain, notifyReady(m, log), log)
}

// parseMount reads the command line and the config file and checks
// everything that can be checked before anything starts.
func parseMount(args []string, stderr io.Writer) (mountArgs, error) {
	fl := newFlagSet("mount", "[flags] MOUNTPOINT", `
Mounts the apps at MOUNTPOINT, an existing directory, and serves until it is
unmounted (`+mount.UnmountCommand+` MOUNTPOINT) or interrupted. The apps are those of
--config, or the one the flags describe; with neither --host nor --config, chatfs
serves its embedded chatfiles emulator on a loopback port and mounts its app "demo".
Credentials are read from files (or CHATFS_TOKEN), never from the command line.
Flags go before or after MOUNTPOINT.`, stderr)
	var p mountArgs
	a := &p.app
	fl.StringVar(&a.Host, "host", "", "base URL of the service, e.g. https://a1.easemob.com (none: the embedded emulator)")
	fl.StringVar(&a.AppID, "app-id", "", "Shengwang IM app id")
	fl.StringVar(&a.Org, "org", "", "Agora Chat / Easemob org name")
	fl.StringVar(&a.AppName, "app", "", "Agora Chat / Easemob app name")
	fl.StringVar(&a.Name, "name", "", "the app's directory name (default: the app id, or ORG-APP)")
	fl.StringVar(&a.TokenFile, "token-file", "", "file holding the app token (or set CHATFS_TOKEN)")
	addCredentialFlags(fl, a)
	fl.BoolVar(&a.Restrict, "restrict-access", false, "upload files as restricted (readers need the share-secret)")
	fl.StringVar(&a.ThumbnailSize, "thumbnail-size", "", "thumbnail box WxH asked for images (server default 170x170)")
	fl.Int64Var(&a.MaxSize, "max-size", 10*1024*1024, "largest file accepted, bytes")
	fl.DurationVar(&a.Retention, "retention", 7*24*time.Hour, "how long the app's service keeps files (user.chatfs.expires)")
	history := fl.Duration("history", config.DefaultHistory, "import the attachments of the message history this far back into chats/ (0: off)")
	fl.StringVar(&a.HistoryTZ, "history-tz", "UTC", "the history export's hours: UTC, or UTC+8 on China clusters")
	fl.DurationVar(&a.HistoryInterval, "history-interval", config.DefaultHistoryInterval, "how often to look for new hours of history")
	fl.StringVar(&a.LifetimeUser, "lifetime-user", "", "user the lifetime API (setfattr user.chatfs.lifetime) is called for (default admin)")
	fl.BoolVar(&a.AllowPlainHTTP, "allow-plain-http", false, "allow http:// to a host that is not loopback")
	fl.StringVar(&a.SendAs, "send-as", "", "the user that messages from send/ come from (default admin)")
	fl.StringVar(&p.state, "state", "", "directory for all state (default: $XDG_DATA_HOME/chatfs and $XDG_CACHE_HOME/chatfs)")
	cacheSize := fl.Int64("cache-size", 1<<30, "download cache bound, bytes")
	fl.StringVar(&p.configFile, "config", "", "TOML file describing one or more apps")
	fl.DurationVar(&p.settle, "settle", time.Second, "quiet time after close before a file in upload/ is uploaded")
	fl.BoolVar(&p.allowOther, "allow-other", false, "let other users see the mount")
	fl.BoolVar(&p.thumbnails, "desktop-thumbnails", true, "fill $XDG_CACHE_HOME/thumbnails from the server's thumbnails when folders are listed")
	fl.StringVar(&p.metrics, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9464; loopback only unless --metrics-public)")
	metricsPublic := fl.Bool("metrics-public", false, "allow --metrics on an address that is not loopback")
	fl.DurationVar(&p.drain, "drain-timeout", 30*time.Second, "on stop, how long uploads in flight may take to finish (the rest stay queued)")
	fl.BoolVar(&p.debug, "debug", false, "log at debug level, and every FUSE request")
	pos, err := parseFlags(fl, args)
	if err != nil {
		return p, usageErr(err)
	}
	a.History = history
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: chatfs mount [flags] MOUNTPOINT (chatfs help mount)")
		return p, errUsage
	}
	if p.mountpoint, err = filepath.Abs(pos[0]); err != nil {
		return p, err
	}
	if err := mount.CheckMountpoint(p.mountpoint); err != nil {
		return p, err
	}
	if p.metrics != "" {
		if err := metrics.CheckAddr(p.metrics, *metricsPublic); err != nil {
			return p, err
		}
	}

	p.cfg = &config.Config{State: p.state, CacheSize: *cacheSize}
	if p.configFile != "" {
		if p.cfg, err = config.Load(p.configFile); err != nil {
			return p, err
		}
		if p.state != "" {
			p.cfg.State = p.state
		}
		if p.cfg.CacheSize == 0 {
			p.cfg.CacheSize = *cacheSize
		}
	}
	if p.cfg.CacheSize < 0 {
		return p, errors.New("--cache-size must not be negative")
	}
	if p.configFile == "" {
		check := p.app
		if check.Host == "" { // the embedded emulator's, once it runs
			check.Host, check.AppID, check.Org, check.AppName = "http://127.0.0.1", demoApp, "", ""
		}
		if err := check.Validate(); err != nil {
			return p, err
		}
	}
	return p, nil
}

// buildApps makes the apps to mount, with their token sources: those of
// the config file, the one of the flags, or, with no --host, the demo app
// of an embedded emulator that it starts. stop stops that emulator (it does
// nothing when none was started); it is set whatever the error.
func buildApps(ctx context.Context, p mountArgs, dirs config.Dirs, log *slog.Logger, stdout, stderr io.Writer) (apps []mount.App, stop func(), err error) {
	stop = func() {}
	a := p.app
	switch {
	case p.configFile != "":
		for _, ca := range p.cfg.Apps {
			tokens, err := tokenSource(ca, log)
			if err != nil {
				return nil, stop, fmt.Errorf("app %s: %w", ca.Name, err)
			}
			apps = append(apps, mount.App{App: ca, Tokens: tokens})
		}
	case a.Host == "":
		certs, tokens, err := embeddedAuth(filepath.Join(dirs.Data, "embedded"), log)
		if err != nil {
			return nil, stop, err
		}
		// Not stopped by the signal (ctx): uploads drain into it while the
		// mount closes, and the deferred Stop runs after m.Close.
		emu, err := startEmbedded(context.WithoutCancel(ctx), filepath.Join(dirs.Data, "embedded", "addr"), emulator.Options{
			Certificates: certs,
			Dir:          filepath.Join(dirs.Data, "emulator"),
			MaxSize:      a.MaxSize,
			Logger:       emulatorLogger(stderr, p.debug),
			LifetimeAPI:  true, // so that user.chatfs.lifetime can be tried
		})
		if err != nil {
			return nil, stop, fmt.Errorf("embedded emulator: %w", err)
		}
		stop = func() { _ = emu.Stop() }
		fmt.Fprintf(stdout, "No --host or --config given: serving the embedded chatfiles emulator on %s (data in %s).\n",
			emu.URL, filepath.Join(dirs.Data, "emulator"))
		// A fresh state directory gets the demo conversation (once).
		if seeded, err := emu.Server.SeedDemo(emulator.DemoOptions{App: "app-id/" + demoApp, URL: emu.URL, IfEmpty: true}); err != nil {
			log.Warn("embedded emulator: could not seed the demo conversation", "err", err)
		} else if seeded {
			fmt.Fprintf(stdout, "Seeded a demo conversation (alice, bob and a group): see %s/chats/ once imported.\n", demoApp)
		}
		a.Host, a.AppID, a.Org, a.AppName = emu.URL, demoApp, "", ""
		if err := a.Validate(); err != nil {
			return nil, stop, err
		}
		apps = append(apps, mount.App{App: a, Tokens: tokens})
	default:
		if err := a.Validate(); err != nil {
			return nil, stop, err
		}
		tokens, err := tokenSource(a, log)
		if err != nil {
			return nil, stop, err
		}
		apps = append(apps, mount.App{App: a, Tokens: tokens})
	}
	return apps, stop, nil
}

// openMount mounts apps and asks the service about each: an app it does
// not know fails the mount; a refused token or an unreachable service is
// only logged, since uploads queue until it is fixed.
func openMount(ctx context.Context, p mountArgs, dirs config.Dirs, apps []mount.App, log *slog.Logger) (*mount.Mount, error) {
	m, err := mount.New(ctx, mount.Options{
		Mountpoint:  p.mountpoint,
		Dirs:        dirs,
		CacheSize:   p.cfg.CacheSize,
		Apps:        apps,
		SettleDelay: p.settle,
		AllowOther:  p.allowOther,
		Debug:       p.debug,
		Logger:      log,

		DesktopThumbnails: desktopThumbnails(p, log),
		MetricsListener:   p.metricsLn,
	})
	if errors.Is(err, index.ErrDamaged) {
		return nil, fmt.Errorf("%w\nThe records (uuids, share-secrets) are in the record log beside it. "+
			"Save them with: %s; rebuild the index with: %s", err,
			strings.Replace(repairCommand(p.cfg.State), "repair", "export", 1)+" > chatfs-records.jsonl", repairCommand(p.cfg.State))
	}
	if err != nil {
		return nil, err
	}
	for _, app := range m.Apps {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := app.Check(cctx)
		cancel()
		switch {
		case err == nil:
		case remote.IsAppNotFound(err):
			m.Close(0)
			return nil, fmt.Errorf("app %s: the service does not know this app (check --app-id or --org/--app and --host): %w", app.Name(), err)
		case remote.IsUnauthorized(err) || remote.IsForbidden(err):
			log.Warn("the service refuses the token: reads and uploads will fail until it is fixed", "app", app.Name(), "err", err)
		default:
			log.Warn("the service is unreachable: mounting anyway, uploads stay queued", "app", app.Name(), "err", err)
		}
	}
	return m, nil
}

// serveMount waits for the unmount or for ctx (a signal), then closes m,
// giving uploads in flight drain to finish; none new starts.
// stopping is called first (it tells a service manager).
func serveMount(ctx context.Context, m *mount.Mount, drain time.Duration, stopping func(), log *slog.Logger) error {
	done := make(chan struct{})
	go func() { m.Wait(); close(done) }()
	select {
	case <-done:
		log.Info("unmounted")
	case <-ctx.Done():
		log.Info("signal received: unmounting")
	}
	stopping()
	return m.Close(drain)
}

// startEmbedded starts the embedded emulator on the loopback port it had
// last time, kept in addrFile, so the URLs recorded for its files stay
// valid across mounts; on a new port when that one is taken.
func startEmbedded(ctx context.Context, addrFile string, o emulator.Options) (*emulator.Running, error) {
	if b, _, err := smallfile.Read(addrFile, 64); err == nil {
		addr := strings.TrimSpace(string(b))
		if host, _, err := net.SplitHostPort(addr); err == nil && host == "127.0.0.1" {
			if emu, err := emulator.Start(ctx, addr, o); err == nil {
				return emu, nil
			}
		}
	}
	emu, err := emulator.Start(ctx, "127.0.0.1:0", o)
	if err != nil {
		return nil, err
	}
	addr := strings.TrimPrefix(emu.URL, "http://")
	if err := os.WriteFile(addrFile, []byte(addr+"\n"), 0o600); err != nil {
		emu.Stop()
		return nil, err
	}
	return emu, nil
}

// emulatorLogger logs the embedded emulator's requests only with --debug:
// otherwise its one line per request would drown chatfs's own log.
func emulatorLogger(w io.Writer, debug bool) *slog.Logger {
	level := slog.LevelWarn
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})).With("component", "emulator")
}

// tokenSource makes the token source of an app: generated from the App
// Certificate, asked for with the client credentials, read from the token
// file, or else $CHATFS_TOKEN. Secret files readable by other users are
// reported as warnings.
func tokenSource(a config.App, log *slog.Logger) (remote.TokenSource, error) {
	switch {
	case a.AppCertificateFile != "":
		src, err := accesstoken.NewSource(accesstoken.SourceOptions{
			AppID:    a.GeneratedAppID(),
			CertFile: a.AppCertificateFile,
			Lifetime: a.TokenLifetime,
			Logger:   log,
		})
		if err != nil {
			return nil, fmt.Errorf("app certificate: %w", err)
		}
		return src, nil
	case a.ClientID != "":
		cc, err := remote.NewClientCredentials(remote.ClientCredentialsOptions{
			Endpoint:   remote.Endpoint{BaseURL: a.Host, AppID: a.AppID, Org: a.Org, App: a.AppName},
			ClientID:   a.ClientID,
			SecretFile: a.ClientSecretFile,
			Logger:     log,
		})
		if err != nil {
			return nil, err
		}
		return cc, nil
	case a.TokenFile == "":
		ts, err := remote.TokenFromEnv()
		if err != nil {
			return nil, errors.New("no credentials: give --app-certificate-file, --client-id with --client-secret-file, " +
				"or --token-file (or the same in the config), or set CHATFS_TOKEN")
		}
		return ts, nil
	}
	st, err := os.Stat(a.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	// Pipes (--token-file <(command)) are fine; only a regular file's mode
	// can leak the token to other users.
	if st.Mode().IsRegular() {
		if warning, _ := smallfile.CheckPrivate(a.TokenFile); warning != "" {
			log.Warn(warning)
		}
	}
	ts := remote.NewFileToken(a.TokenFile)
	if _, err := ts.Token(context.Background()); err != nil {
		return nil, err // names the file already
	}
	return ts, nil
}

// desktopThumbnails is the thumbnail cache listings fill, "" when
// --desktop-thumbnails=false or desktop_thumbnails = false says not to.
func desktopThumbnails(p mountArgs, log *slog.Logger) string {
	if !p.thumbnails || (p.cfg.DesktopThumbnails != nil && !*p.cfg.DesktopThumbnails) {
		return ""
	}
	dir, err := thumbs.Dir()
	if err != nil {
		log.Warn("desktop thumbnails off", "err", err)
		return ""
	}
	return dir
}
