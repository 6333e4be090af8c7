package azure

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/deputyauth/deputy/engine"
)

const sbPrefix = "azure_sb"

// sbSettings are the settings of api_type "azure_sb".
type sbSettings struct {
	namespace  string // lowercased
	keyName    string
	key        string
	entityPath string
	expiration time.Duration
}

// ServiceBus returns the Minter for api_type "azure_sb": a Service Bus
// shared access signature (SAS) token for one entity, answered as
//
//	{"azure_sb_sas": "SharedAccessSignature sr=…&sig=…&se=…&skn=…"}
//
// The settings (Auth0's names) are namespace, sasKeyName, sasKey,
// entityPath and expiration (minutes, default 5); ValidateServiceBus
// describes them.
//
// The token follows Microsoft's documented scheme ("Service Bus access
// control with Shared Access Signatures"): the resource URI is
// https://<namespace>.servicebus.windows.net/<entityPath>, with the
// namespace lowercased (a host name is case-insensitive; RFC 3986 §6.2.2.1)
// and the entity path as given; sr is that URI percent-encoded as a query
// component (url.QueryEscape: every character but letters, digits and
// "-._~" escaped, so ":" and "/" become %3A and %2F); se is the expiry in
// Unix seconds; the string to sign is sr + "\n" + se; sig is the standard
// base64 of HMAC-SHA256 keyed with the bytes of sasKey exactly as given
// (the key's base64 text, not its decoding), percent-encoded the same way;
// skn is sasKeyName. The expiry is Grant.IssuedAt plus the smaller of
// expiration and Grant.Lifetime. The answer carries no expires_in.
//
// The Minter is safe for concurrent use.
func ServiceBus() engine.Minter { return serviceBus{} }

type serviceBus struct{}

// Mint implements engine.Minter.
func (serviceBus) Mint(_ context.Context, g *engine.Grant) (*engine.Response, error) {
	if g == nil {
		return nil, errors.New(sbPrefix + ": no grant")
	}
	s, err := parseServiceBus(g.Settings)
	if err != nil {
		return nil, err
	}
	se, err := expiry(sbPrefix, g.IssuedAt, s.expiration, g.Lifetime)
	if err != nil {
		return nil, err
	}
	return &engine.Response{Extra: map[string]any{"azure_sb_sas": s.token(se.Unix())}}, nil
}

// token returns the SAS token expiring at se (Unix seconds).
func (s *sbSettings) token(se int64) string {
	sr := url.QueryEscape("https://" + s.namespace + ".servicebus.windows.net/" + s.entityPath)
	exp := strconv.FormatInt(se, 10)
	mac := hmac.New(sha256.New, []byte(s.key))
	mac.Write([]byte(sr))
	mac.Write([]byte{'\n'})
	mac.Write([]byte(exp))
	var sum [sha256.Size]byte
	sig := base64.StdEncoding.EncodeToString(mac.Sum(sum[:0]))
	var b strings.Builder
	b.Grow(len("SharedAccessSignature sr=&sig=&se=&skn=") + len(sr) + 3*len(sig) + len(exp) + len(s.keyName))
	b.WriteString("SharedAccessSignature sr=")
	b.WriteString(sr)
	b.WriteString("&sig=")
	b.WriteString(url.QueryEscape(sig))
	b.WriteString("&se=")
	b.WriteString(exp)
	b.WriteString("&skn=")
	b.WriteString(s.keyName)
	return b.String()
}

// ValidateServiceBus checks the settings of api_type "azure_sb", as a host
// should when it registers a client. settings must be a JSON object with:
//
//   - namespace (required): the Service Bus namespace, the first label of
//     https://<namespace>.servicebus.windows.net; 6–50 letters, digits and
//     hyphens, starting with a letter and ending with a letter or digit
//     (Azure's naming rule). Case does not matter.
//   - sasKeyName (required): the shared access policy's name; 1–256
//     letters, digits, ".", "-" and "_".
//   - sasKey (required): the policy's primary or secondary key, used as
//     given; at most 256 printable ASCII characters.
//   - entityPath (required): the queue, topic or subscription path
//     ("orders", "events/subscriptions/audit"); 1–260 letters, digits, ".",
//     "-", "_" and "/", with no empty, "." or ".." segment.
//   - expiration (optional): whole minutes, 1 to one year; default 5.
//
// The error names the first bad field and never carries its value.
func ValidateServiceBus(settings json.RawMessage) error {
	_, err := parseServiceBus(settings)
	return err
}

func parseServiceBus(settings json.RawMessage) (*sbSettings, error) {
	o, err := decodeObject(sbPrefix, settings)
	if err != nil {
		return nil, err
	}
	var s sbSettings
	for _, f := range []struct {
		name  string
		dst   *string
		valid func(string) bool
		rule  string
	}{
		{"namespace", &s.namespace, validNamespace, "must be 6–50 letters, digits and hyphens, starting with a letter and ending with a letter or digit"},
		{"sasKeyName", &s.keyName, validKeyName, "must be 1–256 letters, digits, '.', '-' and '_'"},
		{"sasKey", &s.key, validSASKey, "must be at most 256 printable ASCII characters"},
		{"entityPath", &s.entityPath, validEntityPath, "must be 1–260 letters, digits, '.', '-', '_' and '/' with no empty, '.' or '..' segment"},
	} {
		v, err := o.str(sbPrefix, f.name)
		if err != nil {
			return nil, err
		}
		if v == "" {
			return nil, fieldError(sbPrefix, f.name, "is required")
		}
		if !f.valid(v) {
			return nil, fieldError(sbPrefix, f.name, f.rule)
		}
		*f.dst = v
	}
	s.namespace = strings.ToLower(s.namespace)
	if s.expiration, err = o.expiration(sbPrefix); err != nil {
		return nil, err
	}
	return &s, nil
}

func validNamespace(s string) bool {
	if len(s) < 6 || len(s) > 50 || !isAlnum(s[0]) || s[0] >= '0' && s[0] <= '9' || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

func validKeyName(s string) bool {
	if len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func validSASKey(s string) bool {
	if len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func validEntityPath(s string) bool {
	if len(s) > 260 {
		return false
	}
	for seg := range strings.SplitSeq(s, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; !isAlnum(c) && c != '.' && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}
