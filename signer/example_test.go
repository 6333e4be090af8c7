package signer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"

	"github.com/deputyauth/deputy/signer"
	"github.com/deputyauth/deputy/store"
)

// A key whose private half stays in a KMS or HSM: anything that
// implements crypto.Signer (here an in-memory key standing in for one)
// becomes a signing key of a KeyStore. The store publishes only the
// public half.
func Example() {
	kmsKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // e.g. a Cloud KMS or PKCS#11 crypto.Signer
	if err != nil {
		panic(err)
	}
	jwk, err := signer.New(kmsKey, "ES256", "kms-2026-12")
	if err != nil {
		panic(err)
	}
	st := store.NewMemory()
	if err := st.AddKey(jwk); err != nil {
		panic(err)
	}
	pubs, _ := st.VerificationKeys(context.Background(), "")
	fmt.Println(pubs[0].KeyID, pubs[0].Algorithm, pubs[0].IsPublic())
	sk, _ := st.SigningKey(context.Background(), "ES256")
	fmt.Printf("%T\n", sk.Key)
	// Output:
	// kms-2026-12 ES256 true
	// *signer.Opaque
}
