package claims

import (
	"strings"
	"testing"
	"unicode"
)

// TestFoldASCIIEveryRune checks foldASCII against strings.EqualFold for
// every rune and every byte an owned name is made of.
func TestFoldASCIIEveryRune(t *testing.T) {
	var alphabet []byte
	seen := map[byte]bool{}
	for name := range owned {
		for i := 0; i < len(name); i++ {
			if c := name[i]; !seen[c] {
				seen[c] = true
				alphabet = append(alphabet, c)
			}
		}
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r < 0x80 || unicode.SimpleFold(r) != r {
			b, ok := foldASCII(r)
			for _, c := range alphabet {
				want := strings.EqualFold(string(r), string(rune(c)))
				if got := ok && b == c; got != want {
					t.Errorf("foldASCII(%U) = %q, %v; EqualFold with %q says %v", r, b, ok, c, want)
				}
			}
			continue
		}
		// A rune alone in its fold orbit equals nothing but itself.
		if _, ok := foldASCII(r); ok {
			t.Errorf("foldASCII(%U) found an ASCII fold for a rune with none", r)
		}
	}
}
