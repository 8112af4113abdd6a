package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/chatfs/chatfs/accesstoken"
	"github.com/chatfs/chatfs/remote/emulator"
)

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("serve", "--data DIR [flags]", `
Runs the chatfiles emulator: both URL shapes, uploads, downloads, thumbnails,
restricted files, expiry and the size limit, with its files kept in DIR.
Without --token-file (or CHATFS_TOKEN) it makes a token and writes it to DIR/token.`, stderr)
	listen := fl.String("listen", "127.0.0.1:8080", "address to listen on")
	data := fl.String("data", "", "data directory (required)")
	tokenFile := fl.String("token-file", "", "file holding the accepted token (default: CHATFS_TOKEN, else a new token written to DATA/token)")
	token := fl.String("token", "", "accepted token (visible to other users in ps: prefer --token-file)")
	maxSize := fl.Int64("max-size", 10*1024*1024, "per-file size limit in bytes")
	ttl := fl.Duration("ttl", 168*time.Hour, "how long files are kept")
	noRange := fl.Bool("no-range", false, "ignore Range headers, as a server that does not support them")
	debug := fl.Bool("debug", false, "log at debug level")
	lifetimeAPI := fl.Bool("lifetime-api", false, "serve PUT {base}/users/{user}/chatfiles/lifetime (off: 403 forbidden_op, as an app without it)")
	var apps, certSpecs multiFlag
	fl.Var(&apps, "app", "an app that exists (app-id/ID or ORG/APP); repeatable; default: every app")
	fl.Var(&certSpecs, "app-certificate", "accept only AccessToken2 app tokens: FILE (every app-id/ID app, ID being the App ID), "+
		"or APP=FILE, or APP=APPID:FILE (APP is app-id/ID or ORG/APP, APPID the 32-hex App ID); repeatable")
	clientID := fl.String("client-id", "", "serve POST {base}/token for client_credentials with this client id")
	clientSecretFile := fl.String("client-secret-file", "", "file holding the client secret, with --client-id")
	clientTTL := fl.Duration("client-token-ttl", 0, "lifetime of tokens from {base}/token (default 1440h, as Easemob)")
	histDelay := fl.Duration("history-delay", time.Hour, "how long after an hour ends its message history export becomes available (the services: about 1h, up to 24h under load)")
	histRetention := fl.Duration("history-retention", 72*time.Hour, "how long after an hour ends its history export stays available")
	histLive := fl.Bool("history-live", false, "also serve the hour in progress, and hours within --history-delay, as they stand (tests, demos)")
	histRate := fl.Int("history-rate", 10, "GET chatmessages calls per minute per app; over it: 429 (0: no limit)")
	histTZ := fl.String("history-tz", "UTC", "zone history hours are named in: UTC (international clusters) or UTC+8 (China clusters)")
	demo := fl.Bool("demo", false, "seed a demo conversation (images and PDFs between alice and bob and in a group) into --demo-app, once per data directory")
	demoApp := fl.String("demo-app", emulator.DemoApp, "the app --demo seeds (app-id/ID or ORG/APP)")
	sendUser := fl.Int("send-user-rate", 100, "POST messages/users calls per second per app; over it: 429 (0: no limit)")
	sendUserMsgs := fl.Int("send-user-messages", 6000, "messages to users per minute per app, each recipient counting; over it: 403 (0: no limit)")
	sendGroup := fl.Int("send-group-rate", 20, "POST messages/chatgroups calls, and groups sent to, per second per app (0: no limit)")
	sendRoom := fl.Int("send-room-rate", 20, "POST messages/chatrooms calls, and rooms sent to, per second per app (0: no limit)")
	if err := fl.Parse(args); err != nil {
		return usageErr(err)
	}
	if *data == "" || fl.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: chatfs serve --data DIR [--listen ADDR] [--token-file FILE] [--max-size BYTES] [--ttl DURATION] [--app NAME]... [--lifetime-api]\n"+
			"         [--app-certificate [APP=[APPID:]]FILE]... [--client-id ID --client-secret-file FILE [--client-token-ttl DURATION]]\n"+
			"         [--history-delay D] [--history-retention D] [--history-live] [--history-rate N] [--history-tz UTC|UTC+8] [--demo [--demo-app APP]]")
		return errUsage
	}
	if *demo && len(apps) > 0 && !slices.Contains(apps, strings.Trim(*demoApp, "/")) {
		return fmt.Errorf("--demo-app %s is not among the --app apps: add --app %s", *demoApp, *demoApp)
	}
	tz, err := emulator.ParseHistoryTZ(*histTZ)
	if err != nil {
		return fmt.Errorf("--history-tz: %w", err)
	}
	if *histDelay < 0 || *histRetention <= 0 || *histRate < 0 || *sendUser < 0 || *sendUserMsgs < 0 || *sendGroup < 0 || *sendRoom < 0 {
		return errors.New("--history-delay, --history-rate and the send limits must not be negative, --history-retention must be positive")
	}
	tok := os.Getenv("CHATFS_TOKEN")
	switch {
	case *tokenFile != "":
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return err
		}
		tok = strings.TrimSpace(string(b))
		if tok == "" {
			return fmt.Errorf("token file %s is empty", *tokenFile)
		}
	case *token != "":
		fmt.Fprintln(stderr, "chatfs serve: warning: --token is visible to other users in ps; prefer --token-file")
		tok = *token
	}
	log := newLogger(stderr, *debug)
	certs, err := parseCertSpecs(certSpecs, log)
	if err != nil {
		return err
	}
	clientSecret, err := readClientSecret(*clientID, *clientSecretFile, log)
	if err != nil {
		return err
	}
	r, err := emulator.Start(ctx, *listen, emulator.Options{
		Dir:            *data,
		Token:          tok,
		MaxSize:        *maxSize,
		TTL:            *ttl,
		Apps:           apps,
		NoRange:        *noRange,
		Logger:         log,
		Certificates:   certs,
		ClientID:       *clientID,
		ClientSecret:   clientSecret,
		ClientTokenTTL: *clientTTL,

		HistoryDelay:     orNone(*histDelay),
		HistoryRetention: *histRetention,
		HistoryLive:      *histLive,
		HistoryRate:      orNone(*histRate),
		HistoryTZ:        tz,
		SendLimits: emulator.SendLimits{
			UserCalls:    orNone(*sendUser),
			UserMessages: orNone(*sendUserMsgs),
			GroupCalls:   orNone(*sendGroup),
			RoomCalls:    orNone(*sendRoom),
		},
		LifetimeAPI: *lifetimeAPI,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "chatfiles emulator on %s\n", r.URL)
	if *demo {
		seeded, err := r.Server.SeedDemo(emulator.DemoOptions{App: *demoApp, URL: r.URL})
		if err != nil {
			_ = r.Stop()
			return err
		}
		if seeded {
			fmt.Fprintf(stdout, "demo conversation seeded into %s\n", *demoApp)
		} else {
			fmt.Fprintf(stdout, "demo conversation: already in %s\n", *demoApp)
		}
	}
	if tok == "" && r.Server.Token() != "" {
		fmt.Fprintf(stdout, "token: in %s/token\n", *data)
	}
	<-ctx.Done()
	return r.Stop()
}

// orNone maps a flag's 0 ("none") to the emulator's "none", -1; other
// values pass through.
func orNone[T ~int | ~int64](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// usageErr passes -h through and turns other flag errors into errUsage
// (the flag package has printed them).
func usageErr(err error) error {
	if err == flag.ErrHelp {
		return err
	}
	return errUsage
}

// parseCertSpecs turns --app-certificate values into emulator
// certificates: "FILE" is the certificate of every app-id/ID app (the ID
// being the App ID); "APP=FILE" that of one app; "APP=APPID:FILE" that of
// one app whose tokens name APPID (needed for ORG/APP apps). A FILE holding
// "=" must be given as "*=FILE".
func parseCertSpecs(specs []string, log *slog.Logger) (map[string]emulator.AppCertificate, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	certs := make(map[string]emulator.AppCertificate, len(specs))
	for _, spec := range specs {
		key, rest, ok := strings.Cut(spec, "=")
		if !ok {
			key, rest = emulator.AllApps, spec
		}
		var c emulator.AppCertificate
		if id, file, ok := strings.Cut(rest, ":"); ok && len(id) == 32 {
			c.AppID, rest = id, file
		}
		warn, err := accesstoken.CheckSecretFile(rest)
		if err != nil {
			return nil, fmt.Errorf("--app-certificate %s: %w", spec, err)
		}
		if warn != "" {
			log.Warn(warn)
		}
		if c.Cert, err = accesstoken.ReadCertFile(rest); err != nil {
			return nil, fmt.Errorf("--app-certificate %s: %w", spec, err)
		}
		if _, dup := certs[key]; dup {
			return nil, fmt.Errorf("--app-certificate: two certificates for %s", key)
		}
		certs[key] = c
	}
	return certs, nil
}

// readClientSecret reads the client secret file given with --client-id.
func readClientSecret(id, file string, log *slog.Logger) (string, error) {
	if (id == "") != (file == "") {
		return "", errors.New("--client-id and --client-secret-file go together")
	}
	if file == "" {
		return "", nil
	}
	warn, err := accesstoken.CheckSecretFile(file)
	if err != nil {
		return "", err
	}
	if warn != "" {
		log.Warn(warn)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("client secret file %s is empty", file)
	}
	return secret, nil
}
