package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/deputyauth/deputy/store/postgres"
)

// The shared store: deputy serve --store and the admin commands open a
// PostgreSQL database that every replica reads clients, keys, refresh
// grants, profiles and the replay cache from. Only the host's own settings
// (issuer, lifetimes, CORS, rate limit, replay on or off) stay in flags or
// the config file.

// Environment variables the store flags fall back to.
const (
	// envEncryptionKeys holds the encryption keys when neither
	// --encryption-key-file nor the config's encryption_keys names them.
	envEncryptionKeys = "DEPUTY_ENCRYPTION_KEYS"
	// envStore is the admin commands' --store when the flag is absent.
	envStore = "DEPUTY_STORE"
)

// storeFlags select the shared store: deputy serve's --store and
// --encryption-key-file, and the same flags of every admin command.
type storeFlags struct {
	dsn     string // --store: postgres://…, env:NAME or file:PATH
	keyFile string // --encryption-key-file
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.dsn, "store", "", "shared PostgreSQL `store`: a postgres:// URL without a password, or env:NAME or file:PATH holding the DSN")
	fs.StringVar(&f.keyFile, "encryption-key-file", "", "`file` of the store's encryption keys, one id:base64key a line, the first sealing new rows (default: $"+envEncryptionKeys+", same format)")
}

// sharedConfig is what a config file (or --store) says about the shared
// store; hostConfig.shared.
type sharedConfig struct {
	dsn     string // as given: postgres://…, env:NAME or file:PATH
	keys    string // encryption_keys: env:NAME or file:PATH; "" for the flag or the environment
	baseDir string // of the config file, for file: references
	// cacheTTL is store_cache_ttl: 0 the adapter's default, < 0 no cache.
	cacheTTL time.Duration
}

// checkShared checks a config with "store": the records it would hold
// live in the database instead, so any given here are an error rather
// than silently ignored.
func checkShared(fc *fileConfig, baseDir string, bad func(path, format string, a ...any)) *sharedConfig {
	for _, f := range []struct {
		name, command string
		set           bool
	}{
		{"clients", "deputy client put", len(fc.Clients) > 0},
		{"keys", "deputy key generate", len(fc.Keys) > 0},
		{"keys_file", "deputy key generate", fc.KeysFile != ""},
		{"key_schedule", "deputy key generate --sign-from", len(fc.KeySchedule) > 0},
		{"profiles", "deputy profile put", len(fc.Profiles) > 0},
		{"refresh_grants", "deputy grant issue", len(fc.RefreshGrants) > 0},
	} {
		if f.set {
			bad(f.name, "with \"store\", these live in the database (%s); remove them from the file", f.command)
		}
	}
	sc := &sharedConfig{dsn: fc.Store, keys: fc.EncryptionKeys, baseDir: baseDir}
	if _, err := resolveDSN(fc.Store, baseDir, false); err != nil && fc.Store != "" {
		bad("store", "%v", err)
	}
	if k, _, _ := strings.Cut(fc.EncryptionKeys, ":"); fc.EncryptionKeys != "" && k != "env" && k != "file" {
		bad("encryption_keys", `must be "env:NAME" or "file:PATH" (a file of id:base64key lines), never the keys themselves`)
	}
	if fc.StoreCacheTTL != "" {
		d, err := time.ParseDuration(fc.StoreCacheTTL)
		switch {
		case err != nil:
			bad("store_cache_ttl", "%q is not a duration such as \"5s\"", fc.StoreCacheTTL)
		case d <= 0:
			bad("store_cache_ttl", "%q must be positive; \"off\" is not supported: every request would query the database", fc.StoreCacheTTL)
		default:
			sc.cacheTTL = d
		}
	}
	return sc
}

// resolveDSN turns a store reference into a DSN: a postgres:// or
// postgresql:// URL as is, env:NAME the variable's value, file:PATH the
// file's first line. fromFlag refuses a URL carrying a password, which
// every user of the machine could read in the process list. Errors never
// quote the DSN.
func resolveDSN(ref, baseDir string, fromFlag bool) (string, error) {
	kind, rest, _ := strings.Cut(ref, ":")
	switch kind {
	case "postgres", "postgresql":
		u, err := url.Parse(ref)
		if err != nil {
			return "", errors.New("not a valid postgres:// URL")
		}
		if _, hasPass := u.User.Password(); hasPass && fromFlag {
			return "", errors.New("the URL holds a password, which the process list shows to every user: give the DSN as env:NAME or file:PATH, or the password in PGPASSWORD or ~/.pgpass")
		}
		return ref, nil
	case "env":
		v, ok := os.LookupEnv(rest)
		if !ok || strings.TrimSpace(v) == "" {
			return "", fmt.Errorf("environment variable %q is not set", rest)
		}
		return strings.TrimSpace(v), nil
	case "file":
		b, err := os.ReadFile(resolvePath(baseDir, rest))
		if err != nil {
			return "", err
		}
		line, _, _ := strings.Cut(string(b), "\n")
		if strings.TrimSpace(line) == "" {
			return "", fmt.Errorf("%s: empty", rest)
		}
		return strings.TrimSpace(line), nil
	}
	return "", errors.New("want a postgres:// URL, env:NAME or file:PATH")
}

// keyIDPattern is what an encryption key id may look like; it is stored
// with every sealed row.
var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// parseEncryptionKeys reads encryption keys: entries "id:base64key"
// separated by line breaks or commas, blank lines and lines starting with
// # ignored. Each key is 32 bytes (AES-256) in standard or URL base64,
// padded or not; the first entry is the active key, which seals new rows.
// where names the source in errors, which never quote a key.
func parseEncryptionKeys(data, where string) (map[string][]byte, string, error) {
	keys := make(map[string][]byte)
	var (
		active string
		errs   []string
	)
	sc := bufio.NewScanner(strings.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, entry := range strings.Split(line, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			id, b64, ok := strings.Cut(entry, ":")
			switch key, err := decodeKey(b64); {
			case !ok:
				errs = append(errs, fmt.Sprintf("%s line %d: want id:base64key", where, n))
			case !keyIDPattern.MatchString(id):
				errs = append(errs, fmt.Sprintf("%s line %d: key id %q: want 1 to 64 letters, digits, '.', '_' or '-'", where, n, id))
			case keys[id] != nil:
				errs = append(errs, fmt.Sprintf("%s line %d: key id %q repeated", where, n, id))
			case err != nil:
				errs = append(errs, fmt.Sprintf("%s line %d: key %q: %v", where, n, id, err))
			default:
				keys[id] = key
				if active == "" {
					active = id
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, "", errors.New(strings.Join(errs, "\n"))
	}
	if active == "" {
		return nil, "", fmt.Errorf("%s: no keys (one id:base64key a line; make one with: deputy store new-encryption-key)", where)
	}
	return keys, active, nil
}

// decodeKey decodes one base64 AES-256 key.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				return nil, fmt.Errorf("%d bytes; AES-256 needs 32", len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("not valid base64")
}

// encryptionKeys finds the store's encryption keys: --encryption-key-file,
// else the config's encryption_keys, else $DEPUTY_ENCRYPTION_KEYS.
func (f *storeFlags) encryptionKeys(sc *sharedConfig) (map[string][]byte, string, error) {
	var data, where string
	switch {
	case f.keyFile != "":
		b, err := os.ReadFile(f.keyFile)
		if err != nil {
			return nil, "", fmt.Errorf("--encryption-key-file: %v", err)
		}
		data, where = string(b), f.keyFile
	case sc != nil && sc.keys != "":
		b, err := decodeSecret(sc.keys, sc.baseDir)
		if err != nil {
			return nil, "", fmt.Errorf("encryption_keys: %v", err)
		}
		data, where = string(b), "encryption_keys "+sc.keys
	default:
		v, ok := os.LookupEnv(envEncryptionKeys)
		if !ok {
			return nil, "", fmt.Errorf("the store needs its encryption keys: give --encryption-key-file FILE, \"encryption_keys\" in the config, or %s", envEncryptionKeys)
		}
		data, where = v, envEncryptionKeys
	}
	return parseEncryptionKeys(data, where)
}

// usageError is a problem with what the operator gave (flags, files,
// variables), as opposed to a failure of the store: exit code 2.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// open opens the shared store described by sc (--store overriding its dsn)
// and the flags' encryption keys. Open checks the keys against the
// database and runs its migrations.
func (f *storeFlags) open(ctx context.Context, sc *sharedConfig) (*postgres.Store, error) {
	if sc == nil {
		sc = &sharedConfig{}
	}
	ref, fromFlag := sc.dsn, false
	if f.dsn != "" {
		ref, fromFlag = f.dsn, true
	}
	if ref == "" {
		return nil, usageError{errors.New("no store: give --store")}
	}
	dsn, err := resolveDSN(ref, sc.baseDir, fromFlag)
	if err != nil {
		return nil, usageError{fmt.Errorf("--store: %v", err)}
	}
	keys, active, err := f.encryptionKeys(sc)
	if err != nil {
		return nil, usageError{err}
	}
	cfg := postgres.Config{EncryptionKeys: keys, ActiveKey: active, CacheTTL: sc.cacheTTL}
	if sc.cacheTTL < 0 {
		// An admin command: it lives for one change, and pruning the
		// replay cache is the servers' job.
		cfg.PruneInterval = -1
	}
	st, err := postgres.Open(ctx, dsn, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	return st, nil
}

// serveStoreFlags are serve's store flags: the shared store's, plus the
// issuer for a server run without a config file.
type serveStoreFlags struct {
	storeFlags
	issuer string
}

func (f *serveStoreFlags) register(fs *flag.FlagSet) {
	f.storeFlags.register(fs)
	fs.StringVar(&f.issuer, "issuer", "", "with --store and no --config: the `issuer` (iss) of accepted and minted tokens")
}

// check refuses contradictory store flags; config says whether --config
// was given.
func (f *serveStoreFlags) check(config bool) error {
	switch {
	case f.dsn == "" && (f.keyFile != "" || f.issuer != ""):
		return errors.New("--encryption-key-file and --issuer go with --store")
	case f.dsn != "" && config && f.issuer != "":
		return errors.New("with --config, the issuer comes from the config file; drop --issuer")
	case f.dsn != "" && !config && f.issuer == "":
		return errors.New("--store without --config needs --issuer")
	}
	return nil
}

// hostFile reads the config file (if any) with the store flags applied and
// checks it: the host settings, and the file's clients and keys or, with a
// shared store, what is needed to open it.
func (f *serveStoreFlags) hostFile(configPath string) (*hostConfig, error) {
	fc, baseDir := &fileConfig{Issuer: f.issuer}, ""
	var derr error
	if configPath != "" {
		data, err := os.ReadFile(configPath)
		if err != nil {
			return nil, configError{{msg: err.Error()}}
		}
		// Unknown fields come back with fc set, to be reported with the
		// other problems.
		if fc, derr = decodeConfig(data); fc == nil {
			return nil, derr
		}
		baseDir = filepath.Dir(configPath)
	}
	if f.dsn != "" {
		fc.Store = f.dsn
	}
	hc, err := buildConfig(fc, baseDir)
	if derr != nil {
		errs, _ := derr.(configError)
		if more, ok := err.(configError); ok {
			errs = append(errs, more...)
		}
		return nil, errs
	}
	if err != nil {
		return nil, err
	}
	if hc.shared != nil && f.dsn != "" {
		hc.shared.dsn = "" // open takes --store itself, password check included
	}
	return hc, nil
}

// loadHost returns what serve runs with when not in demo mode: the config
// file's settings, and its clients and keys or the shared store the file
// or --store names. close releases the store. Problems with the file or
// flags are a configError; failing to open the store is not.
func (f *serveStoreFlags) loadHost(ctx context.Context, configPath string) (_ *hostConfig, close func(), err error) {
	hc, err := f.hostFile(configPath)
	if err != nil {
		return nil, nil, err
	}
	if hc.shared == nil {
		return hc, func() {}, nil
	}
	st, err := f.open(ctx, hc.shared)
	var ue usageError
	if errors.As(err, &ue) {
		return nil, nil, configError{{msg: ue.Error()}}
	}
	if err != nil {
		return nil, nil, err
	}
	if hc.SigningAlgs, err = enabledAlgs(ctx, st); err != nil {
		st.Close()
		return nil, nil, fmt.Errorf("reading the clients: %w", err)
	}
	hc.Store = st
	return hc, st.Close, nil
}

// reloadHost re-reads the config file for a reload (SIGHUP). A shared
// store stays the one opened at start, so only the host settings change;
// moving to another store, or between a store and the file's clients,
// needs a restart.
func (f *serveStoreFlags) reloadHost(configPath string, cur *hostConfig) (*hostConfig, error) {
	hc, err := f.hostFile(configPath)
	switch {
	case err != nil:
		return nil, err
	case (hc.shared == nil) != (cur.shared == nil) ||
		hc.shared != nil && (*hc.shared != *cur.shared):
		return nil, configError{{path: "store", msg: "changed: switching stores or their encryption keys needs a restart"}}
	case hc.shared != nil:
		hc.Store, hc.SigningAlgs = cur.Store, cur.SigningAlgs
	}
	return hc, nil
}

// enabledAlgs lists the signing algorithms of the store's enabled clients,
// sorted, for the metadata document. It is read at start.
func enabledAlgs(ctx context.Context, st *postgres.Store) ([]string, error) {
	cs, err := st.Clients(ctx)
	if err != nil {
		return nil, err
	}
	var algs []string
	for _, c := range cs {
		if !c.Disabled && !slices.Contains(algs, c.SigningAlg) {
			algs = append(algs, c.SigningAlg)
		}
	}
	slices.Sort(algs)
	return algs, nil
}

// clientsFrom names where serve's clients come from, for its start-up log
// line: the shared store (never its DSN, which may hold a password), the
// config file, or the demo.
func clientsFrom(configPath string, hc *hostConfig) string {
	if hc.shared != nil {
		return "postgres store"
	}
	return configSource(configPath)
}
