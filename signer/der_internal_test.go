package signer

import (
	"bytes"
	"encoding/asn1"
	"math/big"
	"testing"
)

// FuzzDERToJWS: derToJWS never panics, and accepts only canonical DER:
// whatever it accepts re-encodes to exactly the input, with both values
// positive and fitting size bytes.
func FuzzDERToJWS(f *testing.F) {
	for _, seed := range [][]byte{
		mustDER(f, big.NewInt(1), big.NewInt(2)),
		mustDER(f, new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(7)),
		{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		{0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},       // non-minimal length
		{0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01},       // non-minimal integer
		{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00},       // trailing byte
		{0x30, 0x80, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00, 0x00}, // BER indefinite length
		{},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		out, err := derToJWS(der, 32)
		if err != nil {
			return
		}
		if len(out) != 64 {
			t.Fatalf("accepted %x as %d bytes", der, len(out))
		}
		r, s := new(big.Int).SetBytes(out[:32]), new(big.Int).SetBytes(out[32:])
		if r.Sign() <= 0 || s.Sign() <= 0 {
			t.Fatalf("accepted %x with a zero value", der)
		}
		if re := mustDER(t, r, s); !bytes.Equal(re, der) {
			t.Fatalf("accepted non-canonical %x (canonical %x)", der, re)
		}
	})
}

func mustDER(t testing.TB, r, s *big.Int) []byte {
	b, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
