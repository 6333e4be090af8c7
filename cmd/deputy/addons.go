package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/deputyauth/deputy/addons/azure"
	"github.com/deputyauth/deputy/addons/firebase"
	"github.com/deputyauth/deputy/engine"
)

// addon is one add-on minter the host serves: its api_type, the minter,
// and the check of its settings run when a config loads.
type addon struct {
	name     string
	minter   func() engine.Minter
	validate func(json.RawMessage) error
}

// addons are the add-ons deputy serves, by api_type.
var addons = []addon{
	{"azure_blob", azure.Blob, azure.ValidateBlob},
	{"azure_sb", azure.ServiceBus, azure.ValidateServiceBus},
	{"firebase", firebase.New, firebase.Validate},
}

// addonMinters returns a fresh minter per add-on, for engine.Config.Minters.
func addonMinters() map[string]engine.Minter {
	m := make(map[string]engine.Minter, len(addons))
	for _, a := range addons {
		m[a.name] = a.minter()
	}
	return m
}

func findAddon(name string) (addon, bool) {
	i := slices.IndexFunc(addons, func(a addon) bool { return a.name == name })
	if i < 0 {
		return addon{}, false
	}
	return addons[i], true
}

func addonNames() string {
	names := make([]string, len(addons))
	for i, a := range addons {
		names[i] = a.name
	}
	return strings.Join(names, ", ")
}

// buildAPITypes checks a client's api_types and default_api_type and
// returns the settings with their env: and file: strings resolved. fail
// reports a problem under the client's path.
func buildAPITypes(cc *clientConfig, baseDir string, fail func(field, format string, a ...any)) map[string]json.RawMessage {
	var out map[string]json.RawMessage
	if cc.APITypes != nil {
		out = make(map[string]json.RawMessage, len(cc.APITypes))
	}
	for _, name := range slices.Sorted(maps.Keys(cc.APITypes)) {
		p := "api_types." + name
		a, ok := findAddon(name)
		if !ok {
			fail(p, "%q is not an add-on deputy serves (%s); the id_token needs no entry", name, addonNames())
			continue
		}
		settings, secrets, ok := resolveSettings(cc.APITypes[name], baseDir, func(field, format string, args ...any) {
			fail(p+"."+field, format, args...)
		})
		if !ok {
			continue
		}
		if err := a.validate(settings); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				fail(p, "%s", settingsProblem(name, line, secrets))
			}
			continue
		}
		out[name] = settings
	}
	if d := cc.DefaultAPIType; d != "" {
		if _, ok := cc.APITypes[d]; !ok {
			enabled := "none"
			if len(cc.APITypes) > 0 {
				enabled = strings.Join(slices.Sorted(maps.Keys(cc.APITypes)), ", ")
			}
			fail("default_api_type", "%q is not enabled in api_types (enabled: %s); leave it out for the id_token", d, enabled)
		}
	}
	return out
}

// settingsProblem is how a validation error of add-on name is reported:
// without the add-on's own "name: " prefix (the path names it already),
// and withheld whole should it ever quote one of the settings' strings
// long enough to be a key (shorter ones are names and words that a message
// may well contain).
func settingsProblem(name, msg string, values []string) string {
	msg = strings.TrimPrefix(msg, name+": ")
	for _, v := range values {
		if len(v) >= 16 && strings.Contains(msg, v) {
			return "invalid settings (the add-on's message quoted a setting, so it is withheld)"
		}
	}
	return msg
}

// resolveSettings rewrites the top-level string members of a settings
// object that start with "env:" or "file:" into the text they name, read
// as decodeSecret reads a client secret (the variable's value; the file's
// bytes exactly, relative to the config file). Every other value, and
// every value of a nested object or array, stays as written, member order
// and duplicates included, so that the add-on's Validate sees what the
// config holds. A document that is not a JSON object is passed on for
// Validate to refuse. values lists the settings' string values, resolved,
// so that no error can echo them.
func resolveSettings(raw json.RawMessage, baseDir string, fail func(field, format string, a ...any)) (_ json.RawMessage, values []string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return raw, nil, true
	}
	var out bytes.Buffer
	out.WriteByte('{')
	ok = true
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return raw, values, true
		}
		key, _ := kt.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return raw, values, true
		}
		var s string
		if len(val) > 0 && val[0] == '"' && json.Unmarshal(val, &s) == nil {
			if kind, _, _ := strings.Cut(s, ":"); kind == "env" || kind == "file" {
				b, err := decodeSecret(s, baseDir)
				switch {
				case err != nil:
					fail(key, "%v", err)
					ok = false
				case !utf8.Valid(b):
					fail(key, "%s holds bytes that are not UTF-8 text", kind)
					ok = false
				default:
					s = string(b)
					val, _ = json.Marshal(s)
				}
			}
			values = append(values, s)
		}
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		out.Write(k)
		out.WriteByte(':')
		out.Write(val)
	}
	if _, err := dec.Token(); err != nil {
		return raw, values, true
	}
	out.WriteByte('}')
	return out.Bytes(), values, ok
}
