package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/store"
	"github.com/deputyauth/deputy/store/postgres"
)

// The admin commands change the shared store that deputy serve --store
// reads: what an operator does by hand. Every replica sees a change on its
// next request after the store's change notification (or, if that is
// lost, within its cache TTL).
//
// Secrets the commands generate (client secrets, refresh tokens, keys)
// are printed once, on stdout alone, so that they can be captured; what
// the operator supplies comes from stdin, env:NAME or file:PATH, never
// from the command line, which other users can read in the process list.

// exitNotFound is the admin commands' exit code when the client, secret,
// key or grant named does not exist, so that scripts can tell it from a
// failure.
const exitNotFound = 3

// adminVerbs maps "noun verb" to its command.
var adminVerbs = map[string]func(ctx context.Context, a *admin, args []string) int{
	"client put":               clientPut,
	"client disable":           func(ctx context.Context, a *admin, args []string) int { return clientSetDisabled(ctx, a, args, true) },
	"client enable":            func(ctx context.Context, a *admin, args []string) int { return clientSetDisabled(ctx, a, args, false) },
	"client delete":            clientDelete,
	"client list":              clientListCmd,
	"secret add":               secretAdd,
	"secret expire":            secretExpire,
	"key generate":             keyGenerate,
	"key retire":               keyRetire,
	"key remove":               keyRemove,
	"key list":                 keyList,
	"grant issue":              grantIssue,
	"grant revoke":             grantRevoke,
	"profile put":              profilePut,
	"store migrate":            storeMigrate,
	"store reseal":             storeReseal,
	"store new-encryption-key": storeNewKey,
}

// admin is one admin command's invocation: its streams, flags and clock.
type admin struct {
	name           string // "client put"
	stdin          io.Reader
	stdout, stderr io.Writer
	fs             *flag.FlagSet
	sf             storeFlags
	now            func() time.Time
}

// runAdmin runs "deputy <noun> <verb> [flags]".
func runAdmin(ctx context.Context, noun string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var verbs []string
	for k := range adminVerbs {
		if n, v, _ := strings.Cut(k, " "); n == noun {
			verbs = append(verbs, v)
		}
	}
	slices.Sort(verbs)
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprintf(stdout, "usage: deputy %s %s [flags]\n", noun, strings.Join(verbs, "|"))
			return exitOK
		}
		fmt.Fprintf(stderr, "usage: deputy %s %s [flags]\n", noun, strings.Join(verbs, "|"))
		return exitUsage
	}
	cmd, ok := adminVerbs[noun+" "+args[0]]
	if !ok {
		fmt.Fprintf(stderr, "deputy %s: unknown command %q (want %s)\n", noun, args[0], strings.Join(verbs, ", "))
		return exitUsage
	}
	a := &admin{name: noun + " " + args[0], stdin: stdin, stdout: stdout, stderr: stderr, now: time.Now}
	return cmd(ctx, a, args[1:])
}

// flags starts the command's flag set; the store flags are registered when
// store is true.
func (a *admin) flags(synopsis, about string, withStore bool) *flag.FlagSet {
	a.fs = flag.NewFlagSet(a.name, flag.ContinueOnError)
	a.fs.SetOutput(a.stderr)
	a.fs.Usage = func() {
		fmt.Fprintf(a.fs.Output(), "usage: deputy %s %s\n\n%s\n", a.name, synopsis, about)
		if withStore {
			fmt.Fprintf(a.fs.Output(), "\nThe store is --store, else $%s; its encryption keys --encryption-key-file,\nelse $%s. Exit codes: 0 done, 1 the store failed, 2 usage, 3 not found.\n", envStore, envEncryptionKeys)
		}
		fmt.Fprintln(a.fs.Output())
		a.fs.PrintDefaults()
	}
	if withStore {
		a.sf.register(a.fs)
	}
	return a.fs
}

// parse parses args; stop reports that the command should return code.
func (a *admin) parse(args []string) (code int, stop bool) {
	return parseFlags(a.fs, args)
}

// usageErr reports a usage problem (exit 2).
func (a *admin) usageErr(format string, args ...any) int {
	fmt.Fprintf(a.stderr, "deputy %s: %s\n", a.name, fmt.Sprintf(format, args...))
	return exitUsage
}

// fail reports err with the exit code its kind calls for.
func (a *admin) fail(err error) int {
	fmt.Fprintf(a.stderr, "deputy %s: %v\n", a.name, err)
	var ue usageError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, store.ErrNotFound):
		return exitNotFound
	}
	return exitFailure
}

// info tells the operator what happened, on stderr.
func (a *admin) info(format string, args ...any) {
	fmt.Fprintf(a.stderr, "deputy %s: %s\n", a.name, fmt.Sprintf(format, args...))
}

// open opens the store without a cache, so that what the command reads is
// the database's current state.
func (a *admin) open(ctx context.Context) (*postgres.Store, error) {
	sc := &sharedConfig{cacheTTL: -1}
	if a.sf.dsn == "" {
		if _, ok := os.LookupEnv(envStore); !ok {
			return nil, usageError{fmt.Errorf("no store: give --store or set %s", envStore)}
		}
		sc.dsn = "env:" + envStore
	}
	return a.sf.open(ctx, sc)
}

// required returns a usage error naming the flags among names that are
// empty, or 0.
func (a *admin) required(flags ...string) int {
	var missing []string
	for _, name := range flags {
		if a.fs.Lookup(name).Value.String() == "" {
			missing = append(missing, "--"+name)
		}
	}
	if len(missing) > 0 {
		return a.usageErr("%s required", strings.Join(missing, ", "))
	}
	return 0
}

// readInput reads "-" (stdin) or a file.
func (a *admin) readInput(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(io.LimitReader(a.stdin, 1<<20))
	}
	return os.ReadFile(path)
}

// readSecretRef reads an operator-supplied secret: "-" is stdin, else
// env:NAME or file:PATH, its bytes exactly. A literal (text:, base64url:)
// is refused: it would sit in the process list and the shell's history.
func (a *admin) readSecretRef(flagName, ref string) ([]byte, error) {
	if ref == "-" {
		return io.ReadAll(io.LimitReader(a.stdin, 1<<20))
	}
	if k, _, _ := strings.Cut(ref, ":"); k != "env" && k != "file" {
		return nil, fmt.Errorf("--%s: want - (stdin), env:NAME or file:PATH; a secret on the command line is visible to every user of the machine", flagName)
	}
	b, err := decodeSecret(ref, "")
	if err != nil {
		return nil, fmt.Errorf("--%s: %v", flagName, err)
	}
	return b, nil
}

// when resolves a time given as an RFC 3339 instant (at) or a duration
// from now (in); both empty is zero, both set an error.
func (a *admin) when(atFlag, at, inFlag string, in time.Duration) (time.Time, error) {
	switch {
	case at != "" && in != 0:
		return time.Time{}, fmt.Errorf("give --%s or --%s, not both", atFlag, inFlag)
	case in < 0:
		return time.Time{}, fmt.Errorf("--%s must not be negative", inFlag)
	case in > 0:
		return a.now().Add(in).Truncate(time.Second), nil
	case at != "":
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return time.Time{}, fmt.Errorf("--%s: want an RFC 3339 time such as 2030-01-02T15:04:05Z", atFlag)
		}
		return t, nil
	}
	return time.Time{}, nil
}

// ---- client ----

// clientFlags are client put's fields as flags; those given override the
// JSON input.
type clientFlags struct {
	file, id, name, signingAlg, lifetime, defaultAPIType string
	sources, grants, scopes                              stringList
	confidential, disabled, generateSecret               bool
}

func clientPut(ctx context.Context, a *admin, args []string) int {
	fs := a.flags("[--file FILE|-] [--id ID] [flags]",
		"Creates or replaces a client. The input is a client object as in the config\n"+
			"file's \"clients\" (from --file, or - for stdin); flags given override its fields.\n"+
			"Secrets in the input replace the client's; without any, an existing client keeps\n"+
			"its own. --generate-secret adds a new secret and prints it once on stdout.", true)
	var f clientFlags
	fs.StringVar(&f.file, "file", "", "client JSON `file` in the config's client format; - reads stdin")
	fs.StringVar(&f.id, "id", "", "client `id`")
	fs.StringVar(&f.name, "name", "", "display `name`")
	fs.StringVar(&f.signingAlg, "signing-alg", "", "`alg` of tokens issued to and minted for the client (HS256, RS256, EdDSA, …)")
	fs.Var(&f.sources, "allowed-source", "client `id` that may obtain tokens for this one, or * (repeatable)")
	fs.Var(&f.grants, "grant", "grant `type` the client may use as requester (repeatable)")
	fs.Var(&f.scopes, "scope", "`scope` tokens for the client may carry (repeatable; none: all)")
	fs.StringVar(&f.lifetime, "lifetime", "", "`duration` of tokens minted for the client (whole seconds, e.g. 10h)")
	fs.StringVar(&f.defaultAPIType, "default-api-type", "", "enabled add-on answering a delegation without api_type")
	fs.BoolVar(&f.confidential, "confidential", false, "the client must authenticate with a secret")
	fs.BoolVar(&f.disabled, "disabled", false, "the client can neither request nor be targeted")
	fs.BoolVar(&f.generateSecret, "generate-secret", false, "add a new random secret and print it once")
	if code, stop := a.parse(args); stop {
		return code
	}
	var cc clientConfig
	baseDir := ""
	if f.file != "" {
		data, err := a.readInput(f.file)
		if err != nil {
			return a.usageErr("--file: %v", err)
		}
		if err := strictUnmarshal(data, &cc, "client"); err != nil {
			return a.usageErr("%v", err)
		}
		if f.file != "-" {
			baseDir = filepath.Dir(f.file)
		}
	}
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "id":
			cc.ID = f.id
		case "name":
			cc.Name = f.name
		case "signing-alg":
			cc.SigningAlg = f.signingAlg
		case "allowed-source":
			cc.AllowedSources = f.sources
		case "grant":
			cc.Grants = f.grants
		case "scope":
			cc.Scopes = f.scopes
		case "lifetime":
			cc.Lifetime = f.lifetime
		case "default-api-type":
			cc.DefaultAPIType = f.defaultAPIType
		case "confidential":
			cc.Confidential = f.confidential
		case "disabled":
			cc.Disabled = f.disabled
		}
	})
	if cc.ID == "" {
		return a.usageErr("the client needs an id: --id or \"id\" in --file")
	}
	if cc.TokenEndpointAuthMethod != "" || len(cc.JWKS) > 0 || cc.JWKSFile != "" || len(cc.SecretHashes) > 0 {
		// The shared store keeps store.Client, which has no place for
		// them: dropping them silently would change how the client
		// authenticates (a hash would be taken for the secret itself).
		return a.usageErr("client: token_endpoint_auth_method, jwks, jwks_file and secret_hashes are not kept by the shared store; a client using them needs a config file")
	}
	st, err := a.open(ctx)
	if err != nil {
		return a.fail(err)
	}
	defer st.Close()

	old, err := st.Client(ctx, cc.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		old = nil
	case err != nil:
		return a.fail(err)
	}
	if len(cc.Secrets) == 0 && old != nil {
		for _, s := range old.Secrets {
			cc.Secrets = append(cc.Secrets, secretRef(s))
		}
	}
	var generated *store.Secret
	if f.generateSecret {
		s := newSecret(cc.ID, cc.SigningAlg, a.now())
		generated = &s
		cc.Secrets = append(secretList{secretRef(s)}, cc.Secrets...)
	}

	// allowed_sources may name clients yet to be put (two clients that
	// allow each other); the file config checks them, here they are warned
	// about.
	existing, err := st.Clients(ctx)
	if err != nil {
		return a.fail(err)
	}
	ids := map[string]int{cc.ID: 0}
	for _, c := range existing {
		ids[c.ID] = 0
	}
	for j, src := range cc.AllowedSources {
		if _, known := ids[src]; !known && src != "*" {
			a.info("warning: allowed_sources[%d]: %q is not a client in the store (yet)", j, src)
			ids[src] = 0
		}
	}
	keys, err := st.Keys(ctx)
	if err != nil {
		return a.fail(err)
	}
	keyAlgs := map[string]bool{}
	for _, k := range keys {
		keyAlgs[k.Algorithm] = true
	}
	if store.IsAsymmetric(cc.SigningAlg) && !keyAlgs[cc.SigningAlg] {
		return a.usageErr("client.signing_alg: the store has no %s key; add one first: deputy key generate --alg %s", cc.SigningAlg, cc.SigningAlg)
	}
	var problems []string
	c, ok := buildClient(&cc, "client", baseDir, ids, keyAlgs, func(path, format string, args ...any) {
		problems = append(problems, path+": "+fmt.Sprintf(format, args...))
	})
	if !ok {
		for _, p := range problems {
			fmt.Fprintf(a.stderr, "deputy %s: %s\n", a.name, p)
		}
		return exitUsage
	}
	if err := st.PutClient(ctx, *c); err != nil {
		return a.fail(err)
	}
	verb := "created"
	if old != nil {
		verb = "replaced"
	}
	a.info("client %q %s (%s, %d secrets)", c.ID, verb, c.SigningAlg, len(c.Secrets))
	if generated != nil {
		a.info("new secret %q, shown once, on stdout (send it as typed):", generated.ID)
		fmt.Fprintln(a.stdout, string(generated.Value))
	}
	return exitOK
}

// secretRef is a stored secret as a config entry, for validation.
func secretRef(s store.Secret) secretConfig {
	sc := secretConfig{ID: s.ID, Value: "base64url:" + base64.RawURLEncoding.EncodeToString(s.Value)}
	if !s.NotAfter.IsZero() {
		sc.NotAfter = s.NotAfter.UTC().Format(time.RFC3339)
	}
	return sc
}

// newSecret makes a random secret for a client of alg: the base64url text
// of as many random bytes as alg needs (at least store.MinSecretSize), so
// that the secret is the text itself, which a client sends as typed
// (Auth0-style) and which is longer than the bytes it encodes. Its ID is
// the client's with the date and a random suffix, since an ID names one
// value forever.
func newSecret(clientID, alg string, now time.Time) store.Secret {
	b := make([]byte, max(hmacMinimum[alg], store.MinSecretSize))
	rand.Read(b)
	text := base64.RawURLEncoding.EncodeToString(b)
	return store.Secret{ID: clientID + "-" + now.UTC().Format("20060102") + "-" + randomHex(3), Value: []byte(text)}
}

func clientSetDisabled(ctx context.Context, a *admin, args []string, disabled bool) int {
	about := "Enables the client again."
	if disabled {
		about = "Disables the client: it can neither request nor be targeted, on every\nreplica, until enabled again."
	}
	fs := a.flags("--id ID", about, true)
	id := fs.String("id", "", "client `id`")
	if code, stop := a.parse(args); stop {
		return code
	}
	if code := a.required("id"); code != 0 {
		return code
	}
	st, err := a.open(ctx)
	if err != nil {
		return a.fail(err)
	}
	defer st.Close()
	if err := st.SetDisabled(ctx, *id, disabled); err != nil {
		return a.fail(err)
	}
	a.info("client %q %s", *id, map[bool]string{true: "disabled", false: "enabled"}[disabled])
	return exitOK
}

func clientDelete(ctx context.Context, a *admin, args []string) int {
	fs := a.flags("--id ID", "Deletes the client and its secrets. Disabling is reversible; this is not.", true)
	id := fs.String("id", "", "client `id`")
	if code, stop := a.parse(args); stop {
		return code
	}
	if code := a.required("id"); code != 0 {
		return code
	}
	st, err := a.open(ctx)
	if err != nil {
		return a.fail(err)
	}
	defer st.Close()
	if err := st.DeleteClient(ctx, *id); err != nil {
		return a.fail(err)
	}
	a.info("client %q deleted", *id)
	return exitOK
}

// clientListing is one client in client list --json: the config's client
// format without secret values and with only the names of enabled add-ons,
// whose settings may hold keys.
type clientListing struct {
	ID             string          `json:"id"`
	Name           string          `json:"name,omitempty"`
	Disabled       bool            `json:"disabled,omitempty"`
	Confidential   bool            `json:"confidential,omitempty"`
	SigningAlg     string          `json:"signing_alg"`
	AllowedSources []string        `json:"allowed_sources,omitempty"`
	Grants         []string        `json:"grants,omitempty"`
	Lifetime       string          `json:"lifetime,omitempty"`
	Scopes         []string        `json:"scopes,omitempty"`
	Secrets        []secretListing `json:"secrets,omitempty"`
	APITypes       []string        `json:"api_types,omitempty"`
	DefaultAPIType string          `json:"default_api_type,omitempty"`
}

type secretListing struct {
	ID       string `json:"id"`
	NotAfter string `json:"not_after,omitempty"`
}

func listingOf(c store.Client) clientListing {
	l := clientListing{
		ID: c.ID, Name: c.Name, Disabled: c.Disabled, Confidential: c.Confidential, SigningAlg: c.SigningAlg,
		AllowedSources: c.AllowedSources, Grants: c.Grants, Scopes: c.Scopes, DefaultAPIType: c.DefaultAPIType,
	}
	if c.Lifetime != 0 {
		l.Lifetime = fmt.Sprintf("%ds", int64(c.Lifetime/time.Second))
	}
	for _, s := range c.Secrets {
		sl := secretListing{ID: s.ID}
		if !s.NotAfter.IsZero() {
			sl.NotAfter = s.NotAfter.UTC().Format(time.RFC3339)
		}
		l.Secrets = append(l.Secrets, sl)
	}
	for name := range c.APITypes {
		l.APITypes = append(l.APITypes, name)
	}
	slices.Sort(l.APITypes)
	return l
}

func clientListCmd(ctx context.Context, a *admin, args []string) int {
	fs := a.flags("[--json]", "Lists the clients, without secret values or add-on settings.", true)
	asJSON := fs.Bool("json", false, "print {\"clients\": [...]} instead of a table")
	if code, stop := a.parse(args); stop {
		return code
	}
	st, err := a.open(ctx)
	if err != nil {
		return a.fail(err)
	}
	defer st.Close()
	cs, err := st.Clients(ctx)
	if err != nil {
		return a.fail(err)
	}
	slices.SortFunc(cs, func(x, y store.Client) int { return strings.Compare(x.ID, y.ID) })
	if *asJSON {
		out := struct {
			Clients []clientListing `json:"clients"`
		}{Clients: []clientListing{}}
		for _, c := range cs {
			out.Clients = append(out.Clients, listingOf(c))
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintf(a.stdout, "%s\n", b)
		return exitOK
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tALG\tSTATE\tSECRETS\tALLOWED SOURCES\tNAME")
	now := a.now()
	for _, c := range cs {
		state := "enabled"
		if c.Disabled {
			state = "disabled"
		}
		var secs []string
		for _, s := range c.Secrets {
			switch {
			case !s.Active(now):
				secs = append(secs, s.ID+"(expired)")
			case !s.NotAfter.IsZero():
				secs = append(secs, s.ID+"(until "+s.NotAfter.UTC().Format(time.RFC3339)+")")
			default:
				secs = append(secs, s.ID)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.SigningAlg, state, dash(strings.Join(secs, ",")),
			dash(strings.Join(c.AllowedSources, ",")), c.Name)
	}
	tw.Flush()
	return exitOK
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ---- secret ----

func secretAdd(ctx context.Context, a *admin, args []string) int {
	fs := a.flags("--client ID [--value -|env:NAME|file:PATH] [--id SECRET_ID] [--not-after T]",
		"Adds a secret to a client; it becomes the newest, the one that signs. Without\n"+
			"--value a random one as long as the client's algorithm needs is made and\n"+
			"printed once on stdout (base64url). A given value is used byte for byte.\n"+
			"Rotation: add the new secret, move verifiers and the client to it, then\n"+
			"deputy secret expire the old one.", true)
	client := fs.String("client", "", "client `id`")
	value := fs.String("value", "", "the secret: - reads stdin, env:NAME or file:PATH (bytes exactly)")
	id := fs.String("id", "", "secret `id`, the kid of tokens it signs (default: CLIENT-DATE-RANDOM)")
	notAfter := fs.String("not-after", "", "RFC 3339 `time` the secret stops working")
	if code, stop := a.parse(args); stop {
		return code
	}
	if code := a.required("client"); code != 0 {
		return code
	}
	exp, err := a.when("not-after", *notAfter, "", 0)
	if err != nil {
		return a.usageErr("%v", err)
	}
	st, err := a.open(ctx)
	if err != nil {
		return a.fail(err)
	}
	defer st.Close()
	c, err := st.Client(ctx, *client)
	if err != nil {
		return a.fail(err)
	}
	sec := newSecret(c.ID, c.SigningAlg, a.now())
	if *id != "" {
		sec.ID = *id
	}
	sec.NotAfter = exp
	if *value != "" {
		if sec.Value, err = a.readSecretRef("value", *value); err != nil {
			return a.usageErr("%v", err)
		}
		if need := max(hmacMinimum[c.SigningAlg], store.MinSecretSize); len(sec.Value) < need {
			return a.usageErr("--value: %d bytes; %s needs at least %d", len(sec.Value), c.SigningAlg, need)
		}
		if strings.HasSuffix(string(sec.Value), "\n") {
			a.info("note: the secret ends with a line break, which is part of it (printf %%s, not echo, writes none)")
		}
	}
	if err := st.AddSecret(ctx, c.ID, sec); err != nil {
		return a.fail(err)
	}
	a.info("secret %q added to client %q; it signs from now on", sec.ID, c.ID)
	if *value == "" {
		a.info("its value, shown once, on stdout (send it as typed):")
		fmt.Fprintln(a.stdout, string(sec.Value))
	}
	return exitOK
}

func secretExpire(ctx context.Context, a *admin, args []string) int {
	fs := a.flags("--client ID --id SECRET_ID [--at T | --in DURATION]",
		"Sets when a secret stops signing, verifying and authenticating: now by default.", true)
	client := fs.String("client", "", "client `id`")
	id := fs.String("id", "", "secret `id`")
	at := fs.String("at", "", "RFC 3339 `time`")
	in := fs.Duration("in", 0, "`duration` from now")
	if code, stop := a.parse(args); stop {
		return code
	}
	if code := a.required("client", "id"); code != 0 {
		return code
	}
	t, err := a.when("at", *at, "in", *in)
	if err != nil {
		return a.usageErr("%v", err)
	}
	if t.IsZero() {
		t = a.now()
	}
	st, err := a.open(ctx)
	if err != nil {
		return a.fail(err)
	}
	defer st.Close()
	if err := st.ExpireSecret(ctx, *client, *id, t); err != nil {
		return a.fail(err)
	}
	a.info("secret %q of client %q expires at %s", *id, *client, t.UTC().Format(time.RFC3339))
	return exitOK
}

// ---- key ----

// generateKey makes a private key for alg.
func generateKey(alg string) (any, error) {
	switch alg {
	case "RS256", "PS256":
		return rsa.GenerateKey(rand.Reader, 2048)
	case "RS384", "PS384":
		return rsa.GenerateKey(rand.Reader, 3072)
	case "RS512", "PS512":
		return rsa.GenerateKey(rand.Reader, 4096)
	case "ES256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		return ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("--alg %q: want RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA", alg)
}

func keyGenerate(ctx context.Context, a *admin, args []string) int {
	fs := a.flags("--alg ALG [--kid KID] [--sign-in DURATION | --sign-from T] [--sign-until T]",
		"Generates a signing key in the store. It is in the JWKS at once and signs from\n"+
			"--sign-from (default: at once), taking over from the key of its algorithm\n"+
			"whose window began earlier. For a rotation that verifiers caching the JWKS for\n"+
			"up to C survive: generate with --sign-in C (or more), deputy key retire the old\n"+
			"key at the same instant, and deputy key remove it once its last token has\n"+
			"expired and C has passed again. Prints the kid on stdout.", true)
	alg := fs.String("alg", "", "signing `algorithm`: RS256, PS256, ES256, EdDSA, …")
	kid := fs.String("kid", "", "key `id` (default: alg-DATE-RANDOM); never reuse one")
	signIn := fs.Duration("sign-in", 0, "start signing this `duration` from now")
	signFrom := fs.String("sign-from", "", "start signing at this RFC 3339 `time`")
	signUntil := fs.String("sign-until", "", "stop signing at this RFC 3339 `time` (default: never; see deputy key retire)")
	if code, stop := a.parse(args); stop {
		return code
	}
	if code := a.required("alg"); code != 0 {
		return code
	}
	from, err := a.when("sign-from", *signFrom, "sign-in", *signIn)
	if err != nil {
		return a.usageErr("%v", err)
	}
	until, err := a.when("sign-until", *signUntil, "", 0)
	if err != nil {
		return a.usageErr("%v", err)
	}
	if !until.IsZero() && !from.IsZero() && !until.After(from) {
		return a.usageErr("--sign-until must be after the key starts signing")
	}
	priv, err := generateKey(*alg)
	if err != nil {
		return a.usageErr("%v", err)
	}
	if *kid == "" {
		*kid = strings.ToLower(*alg) + "-" + a.now().UTC().Format("20060102") + "-" + randomHex(3)
	}
	k := store.Key{
		JSONWebKey: jose.JSONWebKey{Key: priv, KeyID: *kid, Algorithm: *alg, Use: "sig"},
		SignFrom:   from, SignUntil: until,
	}
	if err := store.ValidateKey(&k.JSONWebKey); err != nil {
		return a.usageErr("%v", err)
	}
	st, err := a.open(ctx)
	if err != nil {
		return a.fail(err)
	}
	defer st.Close()
	if err := st.StageKey(ctx, k); err != nil {
		return a.fail(err)
	}
	when := "signs from now"
	if !from.IsZero() {
		when = "signs from " + from.UTC().Format(time.RFC3339)
	}
	if !until.IsZero() {
		when += " until " + until.UTC().Format(time.RFC3339)
	}
	a.info("%s key %q is in the JWKS now and %s", *alg, *kid, when)
	fmt.Fprintln(a.stdout, *kid)
	return exitOK
}

func keyRetire(ctx context.Context, a *admin, args []string) int {
	fs := a.flags("--kid KID [--at T | --in DURATION]",
		"Stops a key signing (now by default). It stays in the JWKS, so the tokens it\n"+
			"signed keep verifying, until deputy key remove.", true)
	kid := fs.String("kid", "", "key `id`")
	at := fs.String("at", "", "RFC 3339 `time`")
	in := fs.Duration("in", 0, "`duration` from now")
	if code, stop := a.parse(args); stop {
		return code
	}
	if code := a.required("kid"); code != 0 {
		return code
	}
	t, err := a.when("at", *at, "in", *in)
	if err != nil {
		return a.usageErr("%v", err)
	}
	st, err := a.open(ctx)
	if err != nil {
		return a.fail(err)
	}
	defer st.Close()
	if err := st.RetireKey(ctx, *kid, t); err != nil {
		return a.fail(err)
	}
	if t.IsZero() {
		t = a.now()
	}
	a.info("key %q stops signing at %s; it stays in the JWKS until deputy key remove", *kid, t.UTC().Format(time.RFC3339))
	return exitOK
}

func keyRemove(ctx context.Context, a *admin, args []string) int {
	fs := a.flags("--kid KID [--force]",
		"Removes a key from the JWKS: tokens it signed stop verifying. A key that signs\n"+
			"now or later is refused without --force; retire it first and wait until its\n"+
			"tokens have expired.", true)
	kid := fs.String("kid", "", "key `id`")
	force := fs.Bool("force", false, "remove even a key that still signs (an emergency: a leaked key)")
	if code, stop := a.parse(args); stop {
		return code
	}
	if code := a.required("kid"); code != 0 {
		return code
	}
	st, err := a.open(ctx)
	if err != nil {
		return a.fail(err)
	}
	defer st.Close()
	keys, err := st.Keys(ctx)
	if err != nil {
		return a.fail(err)
	}
	i := slices.IndexFunc(keys, func(k store.Key) bool { return k.KeyID == *kid })
	if i < 0 {
		return a.fail(fmt.Errorf("key %q: %w", *kid, store.ErrNotFound))
	}
	if k := keys[i]; !*force && (k.SignUntil.IsZero() || k.SignUntil.After(a.now())) {
		return a.usageErr("key %q still signs (now or later): deputy key retire --kid %s first, or --force", *kid, *kid)
	}
	if err := st.RemoveKey(ctx, *kid); err != nil {
		return a.fail(err)
	}
	a.info("key %q removed from the JWKS", *kid)
	return exitOK
}

// keyState names where a key's window stands at now.
func keyState(k store.Key, now time.Time) string {
	switch {
	case now.Before(k.SignFrom):
		return "staged"
	case !k.SignUntil.IsZero() && !now.Before(k.SignUntil):
		return "retired"
	}
	return "in window"
}

func keyList(ctx context.Context, a *admin, args []string) int {
	a.flags("", "Lists the keys in the JWKS with their signing windows, oldest first. Of the\n"+
		"keys of one algorithm in their window, the one whose window began last signs.", true)
	if code, stop := a.parse(args); stop {
		return code
	}
	st, err := a.open(ctx)
	if err != nil {
		return a.fail(err)
	}
	defer st.Close()
	keys, err := st.Keys(ctx)
	if err != nil {
		return a.fail(err)
	}
	now := a.now()
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tSIGN FROM\tSIGN UNTIL")
	for _, k := range keys {
		until := "-"
		if !k.SignUntil.IsZero() {
			until = k.SignUntil.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.KeyID, k.Algorithm, keyState(k, now), k.SignFrom.UTC().Format(time.RFC3339), until)
	}
	tw.Flush()
	return exitOK
}

// ---- grant ----

func grantIssue(ctx context.Context, a *admin, args []string) int {
	fs := a.flags("--client ID --subject SUB --scope 'openid profile' [--expires-in D | --expires-at T]",
		"Issues a refresh grant: prints a new refresh token once on stdout; the store\n"+
			"keeps only its SHA-256 (printed on stderr, for deputy grant revoke --hash).", true)
	client := fs.String("client", "", "client `id` the token is issued to (only it may present it)")
	subject := fs.String("subject", "", "the user (`sub`); their claims come from deputy profile put")
	scopes := fs.String("scope", "", "space-separated `scopes` the grant allows")
	expiresAt := fs.String("expires-at", "", "RFC 3339 `time` the grant ends (default: never)")
	expiresIn := fs.Duration("expires-in", 0, "`duration` from now the grant ends")
	if code, stop := a.parse(args); stop {
		return code
	}
	if code := a.required("client", "subject", "scope"); code != 0 {
		return code
	}
	sc, err := parseScope(*scopes)
	if err != nil {
		return a.usageErr("--scope: %v", err)
	}
	exp, err := a.when("expires-at", *expiresAt, "expires-in", *expiresIn)
	if err != nil {
		return a.usageErr("%v", err)
	}
	st, err := a.open(ctx)
	if err != nil {
		return a.fail(err)
	}
	defer st.Close()
	if _, err := st.Client(ctx, *client); err != nil {
		return a.fail(err)
	}
	switch _, err := st.Profile(ctx, *subject); {
	case errors.Is(err, store.ErrNotFound):
		a.info("warning: %q has no profile; the token is refused (invalid_grant) until deputy profile put --subject gives one", *subject)
	case err != nil:
		return a.fail(err)
	}
	tok := newRefreshToken()
	g := store.RefreshGrant{ClientID: *client, Subject: *subject, Scope: sc, ExpiresAt: exp}
	if err := st.PutRefreshToken(ctx, tok, g); err != nil {
		return a.fail(err)
	}
	a.info("refresh grant %s issued to %q for %q; the token, shown once, on stdout:", tokenHashHex(tok), *client, *subject)
	fmt.Fprintln(a.stdout, tok)
	return exitOK
}

func grantRevoke(ctx context.Context, a *admin, args []string) int {
	fs := a.flags("--token -|env:NAME|file:PATH | --hash HEX",
		"Revokes a refresh grant, by its token (from stdin, a variable or a file, one\n"+
			"line) or by the SHA-256 hash grant issue printed.", true)
	tokenRef := fs.String("token", "", "the refresh token: - reads stdin, env:NAME or file:PATH")
	hashHex := fs.String("hash", "", "the token's SHA-256, 64 hex digits")
	if code, stop := a.parse(args); stop {
		return code
	}
	var hash [32]byte
	switch {
	case (*tokenRef == "") == (*hashHex == ""):
		return a.usageErr("give exactly one of --token and --hash")
	case *hashHex != "":
		h, err := parseTokenHash(*hashHex)
		if err != nil {
			return a.usageErr("--hash: %v", err)
		}
		hash = h
	default:
		b, err := a.readSecretRef("token", *tokenRef)
		if err != nil {
			return a.usageErr("%v", err)
		}
		tok := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if err := checkToken(tok); err != nil {
			return a.usageErr("--token: %v", err)
		}
		hash = sha256.Sum256([]byte(tok))
	}
	st, err := a.open(ctx)
	if err != nil {
		return a.fail(err)
	}
	defer st.Close()
	if err := st.RevokeRefreshToken(ctx, hash); err != nil {
		return a.fail(err)
	}
	a.info("refresh grant %s revoked", hex.EncodeToString(hash[:]))
	return exitOK
}

// ---- profile ----

func profilePut(ctx context.Context, a *admin, args []string) int {
	fs := a.flags("--subject SUB (--claims JSON | --file FILE|-)",
		"Creates or replaces a user's profile: the claims refresh-token delegation puts\n"+
			"in tokens for them (as the config's \"profiles\" entries).", true)
	subject := fs.String("subject", "", "the user (`sub`)")
	claimsJSON := fs.String("claims", "", "the claims, a JSON `object`")
	file := fs.String("file", "", "read the claims from this `file`; - reads stdin")
	if code, stop := a.parse(args); stop {
		return code
	}
	if code := a.required("subject"); code != 0 {
		return code
	}
	var raw []byte
	switch {
	case (*claimsJSON == "") == (*file == ""):
		return a.usageErr("give exactly one of --claims and --file")
	case *file != "":
		b, err := a.readInput(*file)
		if err != nil {
			return a.usageErr("--file: %v", err)
		}
		raw = b
	default:
		raw = []byte(*claimsJSON)
	}
	c, problems := parseProfile(*subject, raw)
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(a.stderr, "deputy %s: %s\n", a.name, (&fieldError{path: joinPath("claims", p.path), msg: p.msg}).Error())
		}
		return exitUsage
	}
	st, err := a.open(ctx)
	if err != nil {
		return a.fail(err)
	}
	defer st.Close()
	if err := st.PutProfile(ctx, *subject, c); err != nil {
		return a.fail(err)
	}
	a.info("profile of %q stored (%d claims)", *subject, len(c))
	return exitOK
}

// ---- store ----

func storeMigrate(ctx context.Context, a *admin, args []string) int {
	a.flags("", "Creates or upgrades the store's tables. Every command, deputy serve --store\n"+
		"included, does it on start; this does only that.", true)
	if code, stop := a.parse(args); stop {
		return code
	}
	st, err := a.open(ctx)
	if err != nil {
		return a.fail(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return a.fail(err)
	}
	a.info("schema up to date")
	return exitOK
}

func storeReseal(ctx context.Context, a *admin, args []string) int {
	a.flags("", "Re-encrypts every sealed row (client secrets, private keys) under the active\n"+
		"encryption key, the first of the key file. Rotation: put a new key first and\n"+
		"keep the old one after it, restart the servers, reseal, then drop the old key.", true)
	if code, stop := a.parse(args); stop {
		return code
	}
	st, err := a.open(ctx)
	if err != nil {
		return a.fail(err)
	}
	defer st.Close()
	n, err := st.Reseal(ctx)
	if err != nil {
		return a.fail(err)
	}
	a.info("%d rows resealed", n)
	return exitOK
}

func storeNewKey(_ context.Context, a *admin, args []string) int {
	fs := a.flags("[--id ID] >> keys.txt", "Prints a new random encryption key line, id:base64key, for the key file or\n"+
		"$"+envEncryptionKeys+". The first line of the file is the active key.", false)
	id := fs.String("id", "", "key `id` (default: k-DATE-RANDOM)")
	if code, stop := a.parse(args); stop {
		return code
	}
	if *id == "" {
		*id = "k-" + a.now().UTC().Format("20060102") + "-" + randomHex(3)
	}
	if !keyIDPattern.MatchString(*id) {
		return a.usageErr("--id %q: want 1 to 64 letters, digits, '.', '_' or '-'", *id)
	}
	b := make([]byte, 32)
	rand.Read(b)
	fmt.Fprintf(a.stdout, "%s:%s\n", *id, base64.StdEncoding.EncodeToString(b))
	return exitOK
}
