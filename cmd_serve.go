package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
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
	var apps, certSpecs multiFlag
	fl.Var(&apps, "app", "an app that exists (app-id/ID or ORG/APP); repeatable; default: every app")
	fl.Var(&certSpecs, "app-certificate", "accept only AccessToken2 app tokens: FILE (every app-id/ID app, ID being the App ID), "+
		"or APP=FILE, or APP=APPID:FILE (APP is app-id/ID or ORG/APP, APPID the 32-hex App ID); repeatable")
	clientID := fl.String("client-id", "", "serve POST {base}/token for client_credentials with this client id")
	clientSecretFile := fl.String("client-secret-file", "", "file holding the client secret, with --client-id")
	clientTTL := fl.Duration("client-token-ttl", 0, "lifetime of tokens from {base}/token (default 1440h, as Easemob)")
	if err := fl.Parse(args); err != nil {
		return usageErr(err)
	}
	if *data == "" || fl.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: chatfs serve --data DIR [--listen ADDR] [--token-file FILE] [--max-size BYTES] [--ttl DURATION] [--app NAME]...\n"+
			"         [--app-certificate [APP=[APPID:]]FILE]... [--client-id ID --client-secret-file FILE [--client-token-ttl DURATION]]")
		return errUsage
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
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "chatfiles emulator on %s\n", r.URL)
	if tok == "" && r.Server.Token() != "" {
		fmt.Fprintf(stdout, "token: in %s/token\n", *data)
	}
	<-ctx.Done()
	return r.Stop()
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
