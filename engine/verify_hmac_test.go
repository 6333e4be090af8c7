package engine

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// TestVerifyHMACMatchesGoJose: verifyHMAC accepts exactly the tokens
// go-jose's Verify accepts, for every HS* algorithm, the right and wrong
// secrets, a secret shorter than the hash output, and every spelling of
// the last character of each segment (go-jose's base64url decoder ignores
// the spare bits, and it MACs the canonical re-encoding of header and
// payload, so spellings that differ only there verify).
func TestVerifyHMACMatchesGoJose(t *testing.T) {
	for _, tc := range []struct {
		alg  jose.SignatureAlgorithm
		size int
	}{{jose.HS256, 32}, {jose.HS384, 48}, {jose.HS512, 64}} {
		t.Run(string(tc.alg), func(t *testing.T) {
			secret := make([]byte, tc.size)
			rand.Read(secret)
			other := bytes.Clone(secret)
			other[0] ^= 1
			// Segment lengths 2 and 3 mod 4 both occur: the header and
			// payload differ in length by one byte between the two.
			for _, payload := range []string{`{"sub":"u","n":1}`, `{"sub":"u","n":12}`, `{"sub":"u","n":123}`} {
				signer, err := jose.NewSigner(jose.SigningKey{Algorithm: tc.alg, Key: secret}, nil)
				if err != nil {
					t.Fatal(err)
				}
				obj, err := signer.Sign([]byte(payload))
				if err != nil {
					t.Fatal(err)
				}
				tok, err := obj.CompactSerialize()
				if err != nil {
					t.Fatal(err)
				}
				accepted := 0
				for _, v := range spellings(tok) {
					for name, key := range map[string][]byte{"right": secret, "wrong": other, "short": secret[:tc.size-1]} {
						jws, err := jose.ParseSignedCompact(v, []jose.SignatureAlgorithm{tc.alg})
						if err != nil {
							continue // not ours to check: verifyJWS stops at the parse
						}
						_, joseErr := jws.Verify(key)
						ours := verifyHMAC(string(tc.alg), key, v, jws.Signatures[0].Signature)
						if (joseErr == nil) != (ours == nil) {
							t.Errorf("%s secret, token %s: go-jose %v, verifyHMAC %v", name, v, joseErr, ours)
						}
						if ours == nil {
							accepted++
						}
					}
				}
				if accepted == 0 {
					t.Errorf("payload %s: no spelling accepted", payload)
				}
			}
		})
	}
}

// spellings returns tok and every token that differs from it in the last
// character of one segment.
func spellings(tok string) []string {
	out := []string{tok}
	parts := strings.Split(tok, ".")
	for i, p := range parts {
		for j := 0; j < len(base64URLAlphabet); j++ {
			c := base64URLAlphabet[j]
			if p == "" || p[len(p)-1] == c {
				continue
			}
			q := append([]string(nil), parts...)
			q[i] = p[:len(p)-1] + string(c)
			out = append(out, strings.Join(q, "."))
		}
	}
	return out
}

func TestAppendCanonical(t *testing.T) {
	for s, want := range map[string]string{
		"":     "",
		"QUJD": "QUJD", // "ABC"
		"QQ":   "QQ",   // "A"
		"QR":   "QQ",   // "A" with a spare bit set
		"Q_":   "Qw",
		"QUI":  "QUI", // "AB"
		"QUJ":  "QUI", // "AB" with a spare bit set
	} {
		if got := string(appendCanonical([]byte("x."), s)); got != "x."+want {
			t.Errorf("appendCanonical(%q) = %q, want %q", s, got, "x."+want)
		}
	}
}
