package postgres

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrSealing is wrapped by errors about encryption keys: a row sealed under
// a key id the Config lacks, or a key that fails to open what it sealed.
var ErrSealing = errors.New("postgres: sealed data")

// sealer seals values with AES-256-GCM. A sealed value is a 12-byte random
// nonce followed by the ciphertext and tag. The associated data names the
// value's row (aad), and the key id, so a sealed value opens only in the row
// and under the key id it was sealed for.
type sealer struct {
	active string
	aeads  map[string]cipher.AEAD
}

func newSealer(keys map[string][]byte, active string) (*sealer, error) {
	s := &sealer{active: active, aeads: make(map[string]cipher.AEAD, len(keys))}
	for id, k := range keys {
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %v", ErrConfig, id, err)
		}
		if s.aeads[id], err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// aad returns the associated data of a value: its kind, the parts naming its
// row, and the key id, each length-prefixed so that no two lists of parts
// encode alike.
func aad(keyID, kind string, parts ...string) []byte {
	b := []byte("deputy/postgres/v1")
	for _, p := range append([]string{kind, keyID}, parts...) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

// seal seals plaintext under the active key.
func (s *sealer) seal(plaintext []byte, kind string, parts ...string) (keyID string, sealed []byte) {
	return s.sealWith(s.active, plaintext, kind, parts...)
}

// sealWith seals plaintext under the key keyID, which must be configured.
func (s *sealer) sealWith(keyID string, plaintext []byte, kind string, parts ...string) (string, []byte) {
	a := s.aeads[keyID]
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plaintext)+a.Overhead())
	rand.Read(nonce)
	return keyID, a.Seal(nonce, nonce, plaintext, aad(keyID, kind, parts...))
}

// open opens a value sealed under keyID for the row named by kind and parts.
func (s *sealer) open(keyID string, sealed []byte, kind string, parts ...string) ([]byte, error) {
	a, ok := s.aeads[keyID]
	if !ok {
		return nil, fmt.Errorf("%w: a %s row is sealed under key id %q, which Config.EncryptionKeys lacks", ErrSealing, kind, keyID)
	}
	if len(sealed) < a.NonceSize()+a.Overhead() {
		return nil, fmt.Errorf("%w: a %s row sealed under key id %q is truncated", ErrSealing, kind, keyID)
	}
	n := a.NonceSize()
	out, err := a.Open(nil, sealed[:n], sealed[n:], aad(keyID, kind, parts...))
	if err != nil {
		return nil, fmt.Errorf("%w: a %s row does not open with key id %q: wrong key, or the row was altered or moved", ErrSealing, kind, keyID)
	}
	return out, nil
}

// sentinelText is what each key id's sentinel row seals.
const sentinelText = "deputy sealing key check"
