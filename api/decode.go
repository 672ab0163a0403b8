package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
)

// decodeJSON reads exactly one JSON object of at most maxBody bytes into v,
// refusing unknown fields and anything after the object. Errors are
// *apiError naming what is wrong.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return invalidJSON(http.StatusUnsupportedMediaType, "content type %q is not application/json", ct)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return decodeError(err)
		}
		return invalidJSON(http.StatusBadRequest, "reading body: %s", err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalidJSON(http.StatusBadRequest, "unexpected data after the JSON object")
	}
	return exactFields(body, v)
}

// exactFields refuses member names that encoding/json matched only by
// ignoring case ("A" for "a"), and members given twice (encoding/json keeps
// the last; another reader might keep the first): a client that sends
// either has a bug it should hear about.
func exactFields(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil // null: nothing was set
	}
	t := reflect.TypeOf(v).Elem()
	seen := make(map[string]bool, t.NumField())
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return invalidJSON(http.StatusBadRequest, "malformed JSON: %s", err.Error())
		}
		name, _ := tok.(string)
		if seen[name] {
			return invalidField(name, "given more than once")
		}
		seen[name] = true
		known := false
		for i := 0; i < t.NumField() && !known; i++ {
			tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			known = tag == name
		}
		if !known {
			return invalidField(name, "unknown field %q", name)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return invalidJSON(http.StatusBadRequest, "malformed JSON: %s", err.Error())
		}
	}
	return nil
}

func decodeError(err error) error {
	var (
		tooBig *http.MaxBytesError
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return invalidJSON(http.StatusRequestEntityTooLarge, "body larger than %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return invalidJSON(http.StatusBadRequest, "empty body, want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidJSON(http.StatusBadRequest, "JSON ends too early")
	case errors.As(err, &syntax):
		return invalidJSON(http.StatusBadRequest, "malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typ):
		if typ.Field == "" {
			return invalidJSON(http.StatusBadRequest, "body must be a JSON object, not %s", typ.Value)
		}
		return invalidField(typ.Field, "must be %s, not %s", jsonType(typ.Type.Kind().String()), typ.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field := strings.Trim(name, `"`)
		return invalidField(field, "unknown field %q", field)
	}
	return invalidJSON(http.StatusBadRequest, "malformed JSON: %s", err.Error())
}

// jsonType names a Go kind the way the API documents its fields.
func jsonType(kind string) string {
	switch {
	case kind == "string":
		return "a string"
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case kind == "slice", kind == "array":
		return "an array"
	case kind == "bool":
		return "true or false"
	}
	return "a value of another type"
}
