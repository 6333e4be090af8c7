package jsonstr

import (
	"testing"

	"github.com/go-jose/go-jose/v4/json"
)

// TestAppendMatchesGoJose: Append writes what go-jose's json (the encoder
// the rest of a token goes through) writes for the same string, escapes
// and replacement characters included.
func TestAppendMatchesGoJose(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "\n\r\t\x00\x1f\x7f", "<script>&amp;</script>",
		"line\u2028sep\u2029", "invalid \xff\xfe utf-8", "\xc3", "ünïcødé 🔑", "end\\",
	} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := Append([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("Append(%q) = %s, want %s", s, got[1:], want)
		}
	}
}

func FuzzAppend(f *testing.F) {
	f.Add("a\"b\\c\u2028\xff<>&\x01")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := Append(nil, s); string(got) != string(want) {
			t.Errorf("Append(%q) = %s, want %s", s, got, want)
		}
	})
}
