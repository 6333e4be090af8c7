package azure

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/deputyauth/deputy/engine"
)

const blobPrefix = "azure_blob"

// blobServiceVersion is the storage service version (sv) the SAS is signed
// for: the default of the Azure SDK for Go's sas package (azblob v1.8.3),
// whose string to sign the tests compare against.
const blobServiceVersion = "2026-12-06"

// sasTimeFormat is the SAS time format: ISO 8601 UTC, whole seconds.
const sasTimeFormat = "2006-01-02T15:04:05Z"

// blobSettings are the settings of api_type "azure_blob".
type blobSettings struct {
	account, container, blob, identifier string
	key                                  []byte
	permissions                          string // sp, canonical order
	expiration                           time.Duration
}

// Blob returns the Minter for api_type "azure_blob": a Blob Storage
// service SAS signed with the storage account key, for one blob when the
// settings name blobName (sr=b) and for the container otherwise (sr=c),
// answered as
//
//	{"azure_blob_sas": "st=…&se=…&sp=…&sv=…&sr=…&sig=…"}
//
// with si between sr and sig when signedIdentifier is set. The settings
// (Auth0's names) are described by ValidateBlob.
//
// The signature follows "Create a service SAS" for versions 2020-12-06 and
// later, signed as version 2026-12-06: st is Grant.IssuedAt and se
// IssuedAt plus the smaller of expiration and Grant.Lifetime (both UTC,
// whole seconds); the string to sign is sp, st, se, the canonicalized
// resource (/blob/<account>/<container>[/<blob>]), si, the empty signed IP
// and protocol, sv, sr, and the empty snapshot time, encryption scope and
// five response headers, joined by "\n"; sig is the standard base64 of
// HMAC-SHA256 keyed with the decoded storageAccessKey. Values are
// percent-encoded as query components.
//
// A signedIdentifier names a stored access policy on the container (used to
// revoke SAS tokens); since the SAS always carries st, se and sp, that
// policy must leave its start, expiry and permissions empty, or the service
// refuses the SAS.
//
// The Minter is safe for concurrent use.
func Blob() engine.Minter { return blobMinter{} }

type blobMinter struct{}

// Mint implements engine.Minter.
func (blobMinter) Mint(_ context.Context, g *engine.Grant) (*engine.Response, error) {
	if g == nil {
		return nil, errors.New(blobPrefix + ": no grant")
	}
	s, err := parseBlob(g.Settings)
	if err != nil {
		return nil, err
	}
	se, err := expiry(blobPrefix, g.IssuedAt, s.expiration, g.Lifetime)
	if err != nil {
		return nil, err
	}
	st := g.IssuedAt.Truncate(time.Second).UTC().Format(sasTimeFormat)
	return &engine.Response{Extra: map[string]any{"azure_blob_sas": s.query(st, se.UTC().Format(sasTimeFormat))}}, nil
}

// query returns the signed SAS query string for start st and expiry se.
func (s *blobSettings) query(st, se string) string {
	sr := "c"
	if s.blob != "" {
		sr = "b"
	}
	mac := hmac.New(sha256.New, s.key)
	for i, v := range [...]string{
		s.permissions, st, se,
		"", // canonicalized resource, written below
		s.identifier,
		"", // signed IP
		"", // signed protocol
		blobServiceVersion, sr,
		"",                 // signed snapshot time
		"",                 // signed encryption scope
		"", "", "", "", "", // rscc, rscd, rsce, rscl, rsct
	} {
		if i > 0 {
			mac.Write([]byte{'\n'})
		}
		if i == 3 {
			mac.Write([]byte("/blob/" + s.account + "/" + s.container))
			if s.blob != "" {
				mac.Write([]byte("/" + s.blob))
			}
			continue
		}
		mac.Write([]byte(v))
	}
	var sum [sha256.Size]byte
	sig := base64.StdEncoding.EncodeToString(mac.Sum(sum[:0]))

	var b strings.Builder
	b.Grow(128 + len(s.identifier)*3)
	b.WriteString("st=")
	b.WriteString(url.QueryEscape(st))
	b.WriteString("&se=")
	b.WriteString(url.QueryEscape(se))
	b.WriteString("&sp=")
	b.WriteString(s.permissions)
	b.WriteString("&sv=")
	b.WriteString(blobServiceVersion)
	b.WriteString("&sr=")
	b.WriteString(sr)
	if s.identifier != "" {
		b.WriteString("&si=")
		b.WriteString(url.QueryEscape(s.identifier))
	}
	b.WriteString("&sig=")
	b.WriteString(url.QueryEscape(sig))
	return b.String()
}

// ValidateBlob checks the settings of api_type "azure_blob", as a host
// should when it registers a client. settings must be a JSON object with:
//
//   - accountName (required): the storage account; 3–24 lowercase letters
//     and digits.
//   - storageAccessKey (required): the account key, standard base64 (as the
//     Azure portal shows it).
//   - containerName (required): 3–63 lowercase letters, digits and
//     hyphens, starting and ending with a letter or digit, no "--".
//   - blobName (optional): 1–1024 characters of printable UTF-8, no "\",
//     not ending in "." or "/", no empty path segment or segment over 254
//     characters. With it the SAS is for that blob (sr=b), without it for
//     the container (sr=c).
//   - signedIdentifier (optional): a stored access policy's identifier,
//     1–64 printable characters.
//   - expiration (optional): whole minutes, 1 to one year; default 5.
//   - permission flags (true or false, default false), at least one set.
//     A blob SAS takes blob_read, blob_write and blob_delete; a container
//     SAS takes container_read, container_write, container_delete and
//     container_list. They map to sp's letters r, w, d and l, in the order
//     the service requires ("rwd", "rwdl"). A container flag with blobName,
//     or a blob flag without it, is refused rather than dropped or
//     reinterpreted: the two SAS kinds grant different things.
//
// The error names the first bad field and never carries its value.
func ValidateBlob(settings json.RawMessage) error {
	_, err := parseBlob(settings)
	return err
}

// blobFlags are the permission flags in sp order.
var blobFlags = [...]struct {
	name      string
	letter    byte
	container bool
}{
	{"blob_read", 'r', false},
	{"container_read", 'r', true},
	{"blob_write", 'w', false},
	{"container_write", 'w', true},
	{"blob_delete", 'd', false},
	{"container_delete", 'd', true},
	{"container_list", 'l', true},
}

func parseBlob(settings json.RawMessage) (*blobSettings, error) {
	o, err := decodeObject(blobPrefix, settings)
	if err != nil {
		return nil, err
	}
	var s blobSettings
	var key string
	for _, f := range []struct {
		name     string
		dst      *string
		required bool
		valid    func(string) bool
		rule     string
	}{
		{"accountName", &s.account, true, validAccountName, "must be 3–24 lowercase letters and digits"},
		{"storageAccessKey", &key, true, validStorageKey, "must be the account key in standard base64"},
		{"containerName", &s.container, true, validContainerName, "must be 3–63 lowercase letters, digits and hyphens, starting and ending with a letter or digit, without '--'"},
		{"blobName", &s.blob, false, validBlobName, "must be 1–1024 printable characters without '\\', not ending in '.' or '/', with path segments of 1–254 characters"},
		{"signedIdentifier", &s.identifier, false, validIdentifier, "must be 1–64 printable characters"},
	} {
		v, err := o.str(blobPrefix, f.name)
		if err != nil {
			return nil, err
		}
		if v == "" {
			if f.required {
				return nil, fieldError(blobPrefix, f.name, "is required")
			}
			continue
		}
		if !f.valid(v) {
			return nil, fieldError(blobPrefix, f.name, f.rule)
		}
		*f.dst = v
	}
	if s.key, err = base64.StdEncoding.DecodeString(key); err != nil || len(s.key) == 0 {
		return nil, fieldError(blobPrefix, "storageAccessKey", "must be the account key in standard base64")
	}
	if s.expiration, err = o.expiration(blobPrefix); err != nil {
		return nil, err
	}
	var sp []byte
	for _, f := range blobFlags {
		on, err := o.flag(blobPrefix, f.name)
		if err != nil {
			return nil, err
		}
		if !on {
			continue
		}
		switch {
		case f.container && s.blob != "":
			return nil, fieldError(blobPrefix, f.name, "is a container permission: with blobName the SAS is for one blob (use blob_read, blob_write, blob_delete)")
		case !f.container && s.blob == "":
			return nil, fieldError(blobPrefix, f.name, "is a blob permission and needs blobName: without it the SAS is for the container (use container_read, container_write, container_delete, container_list)")
		}
		sp = append(sp, f.letter)
	}
	if len(sp) == 0 {
		if s.blob != "" {
			return nil, fieldError(blobPrefix, "blob_read", "or blob_write or blob_delete must be true: no permission is set")
		}
		return nil, fieldError(blobPrefix, "container_read", "or container_write, container_delete or container_list must be true: no permission is set")
	}
	s.permissions = string(sp)
	return &s, nil
}

func validAccountName(s string) bool {
	if len(s) < 3 || len(s) > 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLowerAlnum(s[i]) {
			return false
		}
	}
	return true
}

func validStorageKey(s string) bool {
	// Checked for decoding after the loop; here only the size, so that a
	// huge value is not decoded.
	return len(s) <= 1024
}

func validContainerName(s string) bool {
	if len(s) < 3 || len(s) > 63 || !isLowerAlnum(s[0]) || !isLowerAlnum(s[len(s)-1]) || strings.Contains(s, "--") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLowerAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

func validBlobName(s string) bool {
	if utf8.RuneCountInString(s) > 1024 || !printable(s) || strings.ContainsRune(s, '\\') ||
		strings.HasSuffix(s, ".") || strings.HasSuffix(s, "/") {
		return false
	}
	for seg := range strings.SplitSeq(s, "/") {
		if seg == "" || utf8.RuneCountInString(seg) > 254 {
			return false
		}
	}
	return true
}

func validIdentifier(s string) bool {
	return utf8.RuneCountInString(s) <= 64 && printable(s)
}
