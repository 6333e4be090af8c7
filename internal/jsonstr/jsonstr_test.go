package jsonstr

import (
	"bytes"
	"log/slog"
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

// slogJSON is how log/slog's JSON handler writes s as an attribute's value.
func slogJSON(t *testing.T, s string) string {
	t.Helper()
	var buf bytes.Buffer
	drop := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key != "v" {
			return slog.Attr{}
		}
		return a
	}
	slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: drop})).Info("", "v", s)
	out, ok := bytes.CutPrefix(buf.Bytes(), []byte(`{"v":`))
	if !ok {
		t.Fatalf("slog wrote %q", buf.Bytes())
	}
	return string(bytes.TrimSuffix(out, []byte("}\n")))
}

func TestAppendNoHTMLMatchesSlog(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "\n\r\t\b\f\x00\x1f\x7f", "<script>&amp;</script>",
		"line\u2028sep\u2029", "invalid \xff\xfe utf-8", "\xc3", "ünïcødé 🔑", "end\\", "\ufffd",
	} {
		want := slogJSON(t, s)
		if got := AppendNoHTML([]byte("x"), s); string(got) != "x"+want {
			t.Errorf("AppendNoHTML(%q) = %s, want %s", s, got[1:], want)
		}
	}
}

func FuzzAppendNoHTML(f *testing.F) {
	f.Add("a\"b\\c\u2028\xff<>&\x01\f")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := AppendNoHTML(nil, s), slogJSON(t, s); string(got) != want {
			t.Errorf("AppendNoHTML(%q) = %s, want %s", s, got, want)
		}
	})
}
