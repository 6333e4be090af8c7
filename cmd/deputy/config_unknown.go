package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// unknownFields lists every member of the JSON document data that no field
// of type t takes, at every level, each as `unknown field "name"` under the
// path of the object holding it. encoding/json's DisallowUnknownFields stops
// at the first one and so hides every later problem; walking the document
// separately lets the decoder run leniently and the report list them all.
//
// It follows encoding/json's matching (a tag name or field name, exact
// first, then case-insensitive), descends into structs, slices, arrays,
// maps and pointers, and skips json.RawMessage values (their own decoders
// check them) and members whose JSON shape does not fit the Go kind (the
// decoder reports those, or a custom UnmarshalJSON reads them otherwise).
// data must be valid JSON.
func unknownFields(data []byte, t reflect.Type, path string) []*fieldError {
	var out []*fieldError
	walkUnknown(bytes.TrimSpace(data), t, path, &out)
	return out
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

func walkUnknown(data []byte, t reflect.Type, path string, out *[]*fieldError) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType || len(data) == 0 {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if data[0] != '{' {
			return
		}
		var members map[string]json.RawMessage
		keys, err := objectKeys(data)
		if err != nil || json.Unmarshal(data, &members) != nil {
			return
		}
		fields := jsonFields(t)
		for _, k := range keys {
			f, ok := matchField(fields, k)
			if !ok {
				*out = append(*out, &fieldError{path: path, msg: fmt.Sprintf("unknown field %q", k)})
				continue
			}
			walkUnknown(members[k], f.typ, joinPath(path, f.name), out)
		}
	case reflect.Slice, reflect.Array:
		if data[0] != '[' {
			return
		}
		var elems []json.RawMessage
		if json.Unmarshal(data, &elems) != nil {
			return
		}
		for i, e := range elems {
			walkUnknown(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), out)
		}
	case reflect.Map:
		if data[0] != '{' || t.Key().Kind() != reflect.String {
			return
		}
		keys, err := objectKeys(data)
		var members map[string]json.RawMessage
		if err != nil || json.Unmarshal(data, &members) != nil {
			return
		}
		for _, k := range keys {
			walkUnknown(members[k], t.Elem(), joinPath(path, k), out)
		}
	}
}

// objectKeys returns the member names of a JSON object in document order,
// each once.
func objectKeys(data []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	var keys []string
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := tok.(string)
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// jsonField is one member a struct takes.
type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields returns the members encoding/json decodes into t: exported
// fields by tag name or field name, "-" excluded, untagged embedded
// structs flattened.
func jsonFields(t reflect.Type) []jsonField {
	var fs []jsonField
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				fs = append(fs, jsonFields(ft)...)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fs = append(fs, jsonField{name: name, typ: sf.Type})
	}
	return fs
}

// matchField finds the field a member name decodes into, as encoding/json
// does: an exact match first, else a case-insensitive one.
func matchField(fs []jsonField, k string) (jsonField, bool) {
	for _, f := range fs {
		if f.name == k {
			return f, true
		}
	}
	for _, f := range fs {
		if strings.EqualFold(f.name, k) {
			return f, true
		}
	}
	return jsonField{}, false
}
