package postgres_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocShowsTheSchema keeps the package doc's schema in step with the
// migrations: every migration's text appears in doc.go.
func TestDocShowsTheSchema(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var shown strings.Builder
	for _, l := range strings.Split(string(doc), "\n") {
		shown.WriteString(strings.TrimPrefix(strings.TrimPrefix(l, "//"), "\t") + "\n")
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations: %v", err)
	}
	for _, f := range files {
		sql, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(shown.String(), string(sql)) {
			t.Errorf("doc.go does not show %s verbatim; regenerate its Schema section", f)
		}
	}
}
