// Command deputy is the reference host and CLI for the deputy token
// exchange engine. It serves the engine over HTTP in the wire formats of
// Auth0's POST /delegation and RFC 6749's POST /oauth/token, mints source
// tokens for trying it out, and writes a ready-made demo configuration.
//
// Usage:
//
//	deputy serve --demo [--tls] [--addr 127.0.0.1:8080]
//	deputy serve --config deputy.json [--addr ...] [--tls-cert F --tls-key F]
//	deputy token --config deputy.json --client ID --sub SUBJECT [--claims JSON] [--ttl 1h]
//	deputy demo-config [--issuer URL] > deputy.json
//	deputy healthcheck [--url http://127.0.0.1:8080/healthz]
//	deputy version
//	deputy serve --store env:DSN_VAR --issuer URL [--encryption-key-file F]
//	deputy client|secret|key|grant|profile|store <verb> [--store ...] [flags]
//
// Exit codes: 0 success, 1 runtime failure (listening, serving), 2 usage or
// configuration error; the admin commands (admin.go) also 3, not found.
//
// See README.md in this directory for the endpoints and the config format.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes of run.
const (
	exitOK      = 0
	exitFailure = 1 // something went wrong at run time
	exitUsage   = 2 // bad flags or configuration: fixing the invocation helps
)

func main() {
	// SIGINT and SIGTERM cancel the context; serve then drains and shuts
	// down gracefully and run returns.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// SIGHUP asks serve to reload. It is caught for the whole life of the
	// process, so that one arriving before serve is ready or after it has
	// stopped listening never kills the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx = withHangups(ctx, hup)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: deputy <command> [flags]

commands:
  serve        serve the token endpoints over HTTP(S)
  token        mint a source id_token as the issuer would issue it to a client
  demo-config  write a complete demo configuration to stdout
  healthcheck  probe a running server (a container HEALTHCHECK)
  version      print the version and build information (also --version)
  hash-secret  hash a client secret read from stdin, for secret_hashes

admin commands, on the shared store of deputy serve --store:
  client       put|disable|enable|delete|list
  secret       add|expire
  key          generate|retire|remove|list
  grant        issue|revoke (refresh grants)
  profile      put
  store        migrate|reseal|new-encryption-key

Run "deputy <command> -h" for the flags of a command.
`

// run is main without the process: it parses args, runs one subcommand
// until it finishes or ctx is cancelled, and returns the exit code. Tests
// drive the whole program through it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "token":
		return runToken(ctx, rest, stdout, stderr)
	case "demo-config":
		return runDemoConfig(rest, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, rest, stderr)
	case "version", "-version", "--version":
		return runVersion(rest, stdout, stderr)
	case "hash-secret":
		return runHashSecret(rest, os.Stdin, stdout, stderr)
	case "client", "secret", "key", "grant", "profile", "store":
		return runAdmin(ctx, cmd, rest, os.Stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "deputy: unknown command %q\n%s", cmd, usage)
	return exitUsage
}

// parseFlags parses args with fs and turns the outcome into an exit code
// when the caller should stop: -h is a success, anything else a usage
// error. Positional arguments are refused, so a misplaced flag value is not
// silently ignored.
func parseFlags(fs *flag.FlagSet, args []string) (code int, stop bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		return exitUsage, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "deputy %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, true
	}
	return 0, false
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return fmt.Sprint(*l) }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// restrictFile narrows the permissions of w to 0600 when it is a regular
// file (stdout redirected to one), before anything secret is written: the
// shell creates it with the umask's mode, usually world-readable.
func restrictFile(w io.Writer) error {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil // a terminal or a pipe: nothing to narrow
	}
	return f.Chmod(0o600)
}
