package clientauth

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// HashPrefix starts every secret hash HashSecret writes: a PHC-style
// string "$pbkdf2-sha256$i=<iterations>$<salt>$<key>", salt and key in
// unpadded standard base64.
const HashPrefix = "$pbkdf2-sha256$"

// DefaultIterations is the PBKDF2 iteration count HashSecret uses for 0.
// It is low on purpose: HashSecret only takes secrets of at least
// store.MinSecretSize random-looking bytes, whose strength is their
// entropy, not the cost of one guess; the iterations add a margin, while
// every authentication pays them (0.25–0.75 ms on the 2-core machine of
// BenchmarkHashedSecret, depending on its load).
const DefaultIterations = 1000

// Bounds of the iteration count of a hash HashSecret writes or
// HashedSecrets reads; a stored hash outside them is a server_error.
const (
	MinIterations = 1
	MaxIterations = 10_000_000
)

const (
	saltSize = 16
	keySize  = sha256.Size
)

var b64 = base64.RawStdEncoding

// HashSecret returns the hash of a client secret to store as a
// store.Secret's Value in place of the secret, for HashedSecrets to check
// presented secrets against. iterations 0 means DefaultIterations. The
// secret must be at least store.MinSecretSize bytes: a short secret is
// guessable however it is hashed.
//
// Only clients that do not sign with their secrets can use hashes: an
// HS256/384/512 client's secrets are HMAC keys, which the engine needs in
// plaintext.
func HashSecret(secret string, iterations int) (string, error) {
	if len(secret) < store.MinSecretSize {
		return "", fmt.Errorf("clientauth: secret shorter than %d bytes", store.MinSecretSize)
	}
	if iterations == 0 {
		iterations = DefaultIterations
	}
	if iterations < MinIterations || iterations > MaxIterations {
		return "", fmt.Errorf("clientauth: iterations outside [%d, %d]", MinIterations, MaxIterations)
	}
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := pbkdf2.Key(sha256.New, secret, salt, iterations, keySize)
	if err != nil {
		return "", err
	}
	return HashPrefix + "i=" + strconv.Itoa(iterations) + "$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key), nil
}

// IsHash reports whether a stored secret value is a hash HashSecret
// wrote (by its prefix; checking it fully is HashedSecrets' job).
func IsHash(value []byte) bool {
	return strings.HasPrefix(string(value), HashPrefix)
}

// errBadHash is the cause when a stored hash cannot be read: a broken
// registration, answered as server_error.
var errBadHash = errors.New("clientauth: stored secret hash is malformed")

// verifyHash reports whether secret matches the stored hash.
func verifyHash(hash, secret string) (bool, error) {
	parts := strings.Split(strings.TrimPrefix(hash, HashPrefix), "$")
	if len(parts) != 3 || !strings.HasPrefix(parts[0], "i=") {
		return false, errBadHash
	}
	iter, err := strconv.Atoi(parts[0][2:])
	if err != nil || iter < MinIterations || iter > MaxIterations {
		return false, errBadHash
	}
	salt, err1 := b64.DecodeString(parts[1])
	want, err2 := b64.DecodeString(parts[2])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(want) != keySize {
		return false, errBadHash
	}
	got, err := pbkdf2.Key(sha256.New, secret, salt, iter, keySize)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// SecretsConfig configures HashedSecrets.
type SecretsConfig struct {
	// AllowPlaintext lets a secret stored in plaintext (not a HashSecret
	// hash) authenticate too, compared in constant time as the engine
	// compares secrets. HS256/384/512 clients keep plaintext secrets
	// because they sign with them; set it when such clients authenticate
	// through this authenticator. false means only hashes authenticate.
	AllowPlaintext bool
	// Now returns the current time, for secrets' NotAfter. nil means
	// time.Now.
	Now func() time.Time
	// VerifiedTTL is how long a secret that matched a stored hash is
	// remembered (as a digest of client, hash and secret, in memory), so
	// that a client's next requests — and Exchanger.Authenticate before
	// Exchange — skip the hash. Only matches are remembered: a wrong
	// secret always costs a hash. A secret's expiry is checked every time.
	// 0 means DefaultVerifiedTTL; negative means never remember.
	VerifiedTTL time.Duration
}

type hashedSecrets struct {
	cfg SecretsConfig

	mu       sync.Mutex
	verified map[[sha256.Size]byte]time.Time // see remembered; value: until when
}

// DefaultVerifiedTTL is how long HashedSecrets remembers a secret that
// matched, when SecretsConfig.VerifiedTTL is 0.
const DefaultVerifiedTTL = time.Minute

// maxVerified bounds the remembered matches; the memory is emptied when
// full, which only costs hashing again.
const maxVerified = 4096

// verifiedKey names one successful check: the client, the stored hash
// (so a replaced secret is never matched from memory) and the presented
// secret, digested together.
func verifiedKey(client string, stored []byte, presented string) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	for _, part := range [][]byte{[]byte(client), stored, []byte(presented)} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// remembered reports whether k matched less than VerifiedTTL ago.
func (h *hashedSecrets) remembered(k [sha256.Size]byte, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	until, ok := h.verified[k]
	return ok && now.Before(until)
}

func (h *hashedSecrets) remember(k [sha256.Size]byte, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.verified == nil || len(h.verified) >= maxVerified {
		h.verified = make(map[[sha256.Size]byte]time.Time)
	}
	h.verified[k] = now.Add(h.cfg.VerifiedTTL)
}

// HashedSecrets returns a ClientAuthenticator for client_secret_basic
// and client_secret_post clients whose secrets are stored as HashSecret
// hashes, so that a stolen copy of the store authenticates no one. A
// presented client_secret must match an unexpired secret of the client;
// a Confidential client must present one; a client assertion is refused.
// A non-confidential client that presents nothing is let through, as the
// engine's default does.
//
// Without this authenticator (Config.ClientAuth nil) the engine compares
// secrets as they are stored: a hash would then be a password anyone who
// read it could send. Configure it before storing hashes.
func HashedSecrets(cfg SecretsConfig) engine.ClientAuthenticator {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.VerifiedTTL == 0 {
		cfg.VerifiedTTL = DefaultVerifiedTTL
	}
	return &hashedSecrets{cfg: cfg}
}

// decoySalt salts the hash AuthenticateUnknown computes and throws away.
var decoySalt = make([]byte, saltSize)

// AuthenticateUnknown implements engine.UnknownClientAuthenticator: for a
// request naming an unknown or disabled client with a secret, it hashes
// the secret as a check against one stored hash would (at
// DefaultIterations), so that the refusal takes as long as a wrong secret.
func (h *hashedSecrets) AuthenticateUnknown(_ context.Context, req *engine.Request) {
	if req.ClientSecret != "" {
		_, _ = pbkdf2.Key(sha256.New, req.ClientSecret, decoySalt, DefaultIterations, keySize)
	}
}

func (h *hashedSecrets) AuthenticateClient(_ context.Context, c *store.Client, req *engine.Request) error {
	switch {
	case req.ClientAssertion != "":
		return refuse("client assertion sent to a secret-authenticated client")
	case req.ClientSecret == "" && c.Confidential:
		return refuse("confidential client sent no secret")
	case req.ClientSecret == "":
		return nil
	}
	now := h.cfg.Now()
	presented := sha256.Sum256([]byte(req.ClientSecret))
	for i := range c.Secrets {
		s := &c.Secrets[i]
		if !s.Active(now) {
			continue
		}
		if IsHash(s.Value) {
			k := verifiedKey(c.ID, s.Value, req.ClientSecret)
			if h.cfg.VerifiedTTL > 0 && h.remembered(k, now) {
				return nil
			}
			ok, err := verifyHash(string(s.Value), req.ClientSecret)
			if err != nil {
				return fmt.Errorf("clientauth: client secret %q: %w", s.ID, err)
			}
			if ok {
				if h.cfg.VerifiedTTL > 0 {
					h.remember(k, now)
				}
				return nil
			}
			continue
		}
		if h.cfg.AllowPlaintext {
			// Digests, so the time taken does not depend on lengths.
			v := sha256.Sum256(s.Value)
			if subtle.ConstantTimeCompare(presented[:], v[:]) == 1 {
				return nil
			}
		}
	}
	return refuse("client secret does not match")
}
