package store

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// curves maps each ES* algorithm to its curve (RFC 7518 §3.4).
var curves = map[string]elliptic.Curve{
	"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521(),
}

// PublicKey returns the public half of k, as k.Public() does, and also for
// a key whose Key is a jose.OpaqueSigner (k.Public() gives an empty key
// for those): its reported public key, with k's kid, alg and use. Stores
// publish this half.
func PublicKey(k *jose.JSONWebKey) jose.JSONWebKey {
	o, ok := k.Key.(jose.OpaqueSigner)
	if !ok {
		return k.Public()
	}
	pub := *k
	pub.Key = nil
	if p := o.Public(); p != nil && p.IsPublic() {
		pub.Key = p.Key
	}
	return pub
}

func checkKeyType(key any, alg string) error {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return checkRSA(&k.PublicKey, alg)
	case *rsa.PublicKey:
		return checkRSA(k, alg)
	case *ecdsa.PrivateKey:
		return checkEC(&k.PublicKey, alg)
	case *ecdsa.PublicKey:
		return checkEC(k, alg)
	case ed25519.PrivateKey, ed25519.PublicKey:
		if alg != "EdDSA" {
			return fmt.Errorf("Ed25519 key declared %s", alg)
		}
		return nil
	case []byte:
		return errors.New("symmetric key: HMAC secrets belong to clients")
	default:
		return fmt.Errorf("unsupported key type %T", key)
	}
}

func checkRSA(k *rsa.PublicKey, alg string) error {
	if !strings.HasPrefix(alg, "RS") && !strings.HasPrefix(alg, "PS") {
		return fmt.Errorf("RSA key declared %s", alg)
	}
	if k.N.BitLen() < 2048 {
		return fmt.Errorf("RSA key of %d bits: at least 2048 needed", k.N.BitLen())
	}
	if k.E != 65537 {
		return errors.New("RSA public exponent is not 65537")
	}
	return nil
}

func checkEC(k *ecdsa.PublicKey, alg string) error {
	want, ok := curves[alg]
	if !ok {
		return fmt.Errorf("EC key declared %s", alg)
	}
	if k.Curve != want {
		return fmt.Errorf("EC key on %s declared %s", k.Curve.Params().Name, alg)
	}
	return nil
}
