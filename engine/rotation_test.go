package engine_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/deputyauth/deputy/engine"
	"github.com/deputyauth/deputy/store"
)

// TestRotationUnderLoad exchanges on several goroutines while others rotate
// the target's HMAC secrets and the ES256 signing keys. Every minted token
// must verify under exactly the key its kid names, and no token may be
// signed with a key after RemoveKey returned.
func TestRotationUnderLoad(t *testing.T) {
	w := newWorld(t, nil)
	const workers, perWorker, rotations = 4, 40, 20

	var removedMu sync.RWMutex
	removed := map[string]bool{} // kids whose RemoveKey has returned
	ecKeys := sync.Map{}         // kid → *ecdsa.PrivateKey, every key ever added
	hsSecrets := sync.Map{}      // secret ID → []byte
	ecKeys.Store("ec-1", ecKey)
	c, _ := w.st.Client(context.Background(), apiHS)
	hsSecrets.Store(c.Secrets[0].ID, c.Secrets[0].Value)

	stop := make(chan struct{})
	var rot sync.WaitGroup
	rot.Add(2)
	go func() { // rotate ES256 keys: add a new one, remove the old one
		defer rot.Done()
		prev := "ec-1"
		for i := range rotations {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Error(err)
				return
			}
			kid := fmt.Sprintf("ec-rot-%d", i)
			ecKeys.Store(kid, k)
			if err := w.st.AddKey(jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: "ES256"}); err != nil {
				t.Error(err)
				return
			}
			w.st.RemoveKey(prev)
			removedMu.Lock()
			removed[prev] = true
			removedMu.Unlock()
			prev = kid
		}
	}()
	go func() { // rotate apiHS's secrets: a new current one, the previous kept
		defer rot.Done()
		for i := range rotations {
			c, _ := w.st.Client(context.Background(), apiHS)
			n := *c
			s := store.Secret{ID: fmt.Sprintf("hs-rot-%d", i), Value: randomSecret(t, 32)}
			hsSecrets.Store(s.ID, s.Value)
			n.Secrets = []store.Secret{s, c.Secrets[0]}
			putClient(t, w.st, n)
		}
	}()

	var minted atomic.Int32
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := apiHS
			if i%2 == 1 {
				target = appES
			}
			for range perWorker {
				removedMu.RLock()
				gone := make(map[string]bool, len(removed))
				for k := range removed {
					gone[k] = true
				}
				removedMu.RUnlock()
				res, err := w.x.Exchange(context.Background(), delegation(appHS, w.idToken(t, appHS, nil), target, ""))
				if err != nil {
					t.Errorf("Exchange: %v", err)
					return
				}
				minted.Add(1)
				alg := "HS256"
				if target == appES {
					alg = "ES256"
				}
				jws, err := jose.ParseSignedCompact(res.IDToken, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
				if err != nil {
					t.Error(err)
					return
				}
				kid := jws.Signatures[0].Header.KeyID
				if gone[kid] {
					t.Errorf("token signed with %s, removed before the exchange started", kid)
				}
				var key any
				if alg == "HS256" {
					v, ok := hsSecrets.Load(kid)
					if !ok {
						t.Errorf("kid %q names no secret", kid)
						return
					}
					key = v
				} else {
					v, ok := ecKeys.Load(kid)
					if !ok {
						t.Errorf("kid %q names no key", kid)
						return
					}
					key = &v.(*ecdsa.PrivateKey).PublicKey
				}
				if _, err := jws.Verify(key); err != nil {
					t.Errorf("token does not verify under its kid %q: %v", kid, err)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	rot.Wait()
	if got := minted.Load(); got != workers*perWorker {
		t.Errorf("minted %d tokens, want %d", got, workers*perWorker)
	}
	_ = engine.DefaultLifetime
}
