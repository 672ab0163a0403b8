package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// object is a JSON object with its keys in the order the API wrote them,
// so a table lists a binding's id first, as the API document does.
type object struct {
	keys []string
	vals map[string]any
}

// decodeOrdered decodes JSON into object, []any, json.Number, string,
// bool and nil.
func decodeOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				if _, dup := o.vals[k]; !dup {
					o.keys = append(o.keys, k)
				}
				o.vals[k] = v
			}
			_, err := dec.Token() // '}'
			return o, err
		case '[':
			var a []any
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := dec.Token() // ']'
			return a, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil
	}
}

// writeTables prints an answer for a person: an object as aligned
// "key  value" lines (nested objects as key.sub), and each list of objects
// in it as a table with a header row.
func writeTables(w io.Writer, v any) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var lists []struct {
		name string
		rows []any
	}
	lines := 0
	switch t := v.(type) {
	case *object:
		var keyLines func(prefix string, o *object)
		keyLines = func(prefix string, o *object) {
			for _, k := range o.keys {
				switch val := o.vals[k].(type) {
				case *object:
					keyLines(prefix+k+".", val)
				case []any:
					if len(val) > 0 && isObjects(val) {
						lists = append(lists, struct {
							name string
							rows []any
						}{prefix + k, val})
						continue
					}
					fmt.Fprintf(tw, "%s%s\t%s\n", prefix, k, cell(val))
				default:
					fmt.Fprintf(tw, "%s%s\t%s\n", prefix, k, cell(val))
				}
				lines++
			}
		}
		keyLines("", t)
	case []any:
		lists = append(lists, struct {
			name string
			rows []any
		}{"", t})
	default:
		fmt.Fprintln(tw, cell(t))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for i, l := range lists {
		if i > 0 || lines > 0 {
			fmt.Fprintln(w)
		}
		if l.name != "" {
			fmt.Fprintf(w, "%s (%d)\n", l.name, len(l.rows))
		}
		if err := writeTable(w, l.rows); err != nil {
			return err
		}
	}
	return nil
}

func isObjects(a []any) bool {
	for _, v := range a {
		if _, ok := v.(*object); !ok {
			return false
		}
	}
	return true
}

// writeTable prints objects as rows under the union of their keys, in the
// order first seen; nested objects are flattened to key.sub columns.
func writeTable(w io.Writer, rows []any) error {
	var cols []string
	seen := map[string]bool{}
	flat := make([]map[string]string, len(rows))
	for i, r := range rows {
		flat[i] = map[string]string{}
		var walk func(prefix string, o *object)
		walk = func(prefix string, o *object) {
			for _, k := range o.keys {
				if sub, ok := o.vals[k].(*object); ok {
					walk(prefix+k+".", sub)
					continue
				}
				name := prefix + k
				if !seen[name] {
					seen[name] = true
					cols = append(cols, name)
				}
				flat[i][name] = cell(o.vals[k])
			}
		}
		if o, ok := r.(*object); ok {
			walk("", o)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
	for _, f := range flat {
		vals := make([]string, len(cols))
		for j, c := range cols {
			if vals[j] = f[c]; vals[j] == "" {
				vals[j] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	return tw.Flush()
}

// cell is a value as one table cell: tabs and newlines would break the
// columns, so they are escaped.
func cell(v any) string {
	var s string
	switch t := v.(type) {
	case nil:
		return "-"
	case string:
		s = t
	case json.Number:
		s = t.String()
	case bool:
		s = fmt.Sprint(t)
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = cell(e)
		}
		s = strings.Join(parts, ",")
	case *object:
		parts := make([]string, len(t.keys))
		for i, k := range t.keys {
			parts[i] = k + "=" + cell(t.vals[k])
		}
		s = strings.Join(parts, ",")
	default:
		s = fmt.Sprint(t)
	}
	return strings.NewReplacer("\t", `\t`, "\n", `\n`, "\r", `\r`).Replace(s)
}
