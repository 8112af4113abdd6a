package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/chatfs/chatfs/accesstoken"
	"github.com/chatfs/chatfs/config"
	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// Credential flags never take a secret: certificates and client secrets are
// read from files named on the command line, never given there, so they
// cannot be seen in ps.

// addCredentialFlags defines the flags that make chatfs obtain its own app
// tokens, shared by mount and token.
func addCredentialFlags(fl *flag.FlagSet, a *config.App) {
	fl.StringVar(&a.AppCertificateFile, "app-certificate-file", "", "file holding the App Certificate: generate app tokens locally (recommended)")
	fl.StringVar(&a.TokenAppID, "token-app-id", "", "App ID (32 hex) of generated tokens, when it is not --app-id (Agora Chat org/app)")
	fl.DurationVar(&a.TokenLifetime, "token-lifetime", 0, "lifetime of generated tokens, 1m to 24h (default 24h); renewed at half-life")
	fl.StringVar(&a.ClientID, "client-id", "", "client id of the app (Easemob / Agora Chat): get tokens from {host}/token")
	fl.StringVar(&a.ClientSecretFile, "client-secret-file", "", "file holding the client secret, with --client-id")
}

// runToken prints a fresh app token on stdout, and nothing else there, for
// scripts and curl: generated locally from the App Certificate, or asked
// from the service with the client id and secret.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("token", "[flags]", `
Prints a fresh app token on stdout, for scripts and curl: generated from the
App Certificate, or asked of the service with the client id and secret.
  chatfs token (--app-id ID | --token-app-id ID) --app-certificate-file FILE [--token-lifetime D]
  chatfs token --host URL --org ORG --app APP --client-id ID --client-secret-file FILE
  chatfs token --config FILE [--name APP]`, stderr)
	var a config.App
	fl.StringVar(&a.Host, "host", "", "base URL of the service (needed with --client-id)")
	fl.StringVar(&a.AppID, "app-id", "", "Shengwang IM app id; the App ID of generated tokens")
	fl.StringVar(&a.Org, "org", "", "Agora Chat / Easemob org name")
	fl.StringVar(&a.AppName, "app", "", "Agora Chat / Easemob app name")
	fl.BoolVar(&a.AllowPlainHTTP, "allow-plain-http", false, "allow http:// to a host that is not loopback")
	addCredentialFlags(fl, &a)
	configFile := fl.String("config", "", "TOML file describing apps: take the app's credentials from it")
	name := fl.String("name", "", "with --config: the app (its name); default the only app")
	debug := fl.Bool("debug", false, "log at debug level")
	if err := fl.Parse(args); err != nil {
		return usageErr(err)
	}
	if fl.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: chatfs token (--app-id ID | --token-app-id ID) --app-certificate-file FILE [--token-lifetime D]\n"+
			"       chatfs token --host URL --org ORG --app APP --client-id ID --client-secret-file FILE\n"+
			"       chatfs token --config FILE [--name APP]")
		return errUsage
	}
	level := slog.LevelWarn
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if *configFile != "" {
		cfg, err := config.Load(*configFile)
		if err != nil {
			return err
		}
		if a, err = pickApp(cfg, *name); err != nil {
			return err
		}
	} else {
		if a.AppCertificateFile != "" && a.Host == "" {
			// Tokens are made locally: the host is only needed to ask the
			// service, so any valid one lets the app be validated.
			a.Host = "https://localhost"
		}
		if a.AppID == "" && a.Org == "" && a.AppName == "" {
			a.AppID = a.TokenAppID
		}
		if err := a.Validate(); err != nil {
			return err
		}
	}
	if a.AppCertificateFile == "" && a.ClientID == "" {
		return errors.New("give --app-certificate-file (with the App ID), or --client-id with --client-secret-file")
	}
	ts, err := tokenSource(a, log)
	if err != nil {
		return err
	}
	tok, err := ts.Token(ctx)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// pickApp returns the app of cfg called name, or its only app.
func pickApp(cfg *config.Config, name string) (config.App, error) {
	if name == "" && len(cfg.Apps) == 1 {
		return cfg.Apps[0], nil
	}
	var names []string
	for _, a := range cfg.Apps {
		if a.Name == name {
			return a, nil
		}
		names = append(names, a.Name)
	}
	return config.App{}, fmt.Errorf("give --name, one of: %s", strings.Join(names, ", "))
}

// embeddedCredentials returns the App ID and certificate of the embedded
// emulator's app, made on first use and kept in dir (0700) as app_id and
// app_certificate (0600), and the certificate file's path.
func embeddedCredentials(dir string) (appID, cert, certFile string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", "", err
	}
	idFile, certFile := filepath.Join(dir, "app_id"), filepath.Join(dir, "app_certificate")
	for _, f := range []string{idFile, certFile} {
		if err := writeNew(f, accesstoken.NewHex32()+"\n"); err != nil {
			return "", "", "", err
		}
	}
	// The App ID file has the shape of a certificate file.
	if appID, err = accesstoken.ReadCertFile(idFile); err != nil {
		return "", "", "", err
	}
	if cert, err = accesstoken.ReadCertFile(certFile); err != nil {
		return "", "", "", err
	}
	return appID, cert, certFile, nil
}

// writeNew writes data to path (0600) unless path exists, through a temp
// file renamed into place, so that a crash never leaves a half file.
func writeNew(path, data string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// embeddedAuth sets up generated tokens for the embedded default: it
// returns the certificates the embedded emulator checks (its demo app
// accepts only AccessToken2 tokens for the App ID kept in dir) and the
// mount's token source, which generates them from the certificate file.
func embeddedAuth(dir string, log *slog.Logger) (map[string]emulator.AppCertificate, remote.TokenSource, error) {
	appID, cert, certFile, err := embeddedCredentials(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded credentials: %w", err)
	}
	src, err := accesstoken.NewSource(accesstoken.SourceOptions{AppID: appID, CertFile: certFile, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return map[string]emulator.AppCertificate{"app-id/" + demoApp: {AppID: appID, Cert: cert}}, src, nil
}
