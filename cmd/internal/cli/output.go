package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"unicode"

	"gopkg.in/yaml.v3"
)

// decodeAny turns raw JSON into maps, slices and scalars.
func decodeAny(raw json.RawMessage) (any, error) {
	var v any
	if len(raw) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	return v, nil
}

// writeStructured prints v as JSON or YAML.
func writeStructured(w io.Writer, format string, raw json.RawMessage) error {
	v, err := decodeAny(raw)
	if err != nil {
		return err
	}
	if format == "yaml" {
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(yamlSafe(v)); err != nil {
			return err
		}
		return enc.Close()
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// yamlSafe converts json.Number into int64 or float64 for the YAML encoder.
func yamlSafe(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = yamlSafe(e)
		}
	case []any:
		for i, e := range x {
			x[i] = yamlSafe(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// cell renders one value in a table.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			parts = append(parts, cell(e))
		}
		return strings.Join(parts, ",")
	case map[string]any:
		// References like {"entity":"identity-types","id":"Device","name":"Device"}.
		if n, ok := x["name"].(string); ok {
			return n
		}
		b, _ := json.Marshal(x)
		return string(b)
	case bool, json.Number:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

// writeTable prints a list of objects with the given columns (JSON field
// names), under headers people read: "roleAttributes" is ROLE ATTRIBUTES.
func writeTable(w io.Writer, columns []string, rows []map[string]any) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := make([]string, len(columns))
	for i, c := range columns {
		head[i] = header(c)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		vals := make([]string, len(columns))
		for i, c := range columns {
			v, ok := r[c]
			if !ok && strings.HasSuffix(c, "Display") {
				v = r[strings.TrimSuffix(c, "Display")]
			}
			vals[i] = strings.ReplaceAll(cell(v), "\t", " ")
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	return tw.Flush()
}

// header turns a JSON field name into a column header: words split at
// capitals, an "is" prefix and a "Display" suffix dropped, upper case
// ("isAdmin" is ADMIN, "identityRolesDisplay" IDENTITY ROLES).
func header(field string) string {
	f := strings.TrimSuffix(field, "Display")
	if len(f) > 2 && strings.HasPrefix(f, "is") && unicode.IsUpper(rune(f[2])) {
		f = f[2:]
	}
	var b strings.Builder
	for i, r := range f {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// writeObject prints one object as FIELD  VALUE lines, sorted by field.
func writeObject(w io.Writer, obj map[string]any) error {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\n", k, strings.ReplaceAll(cell(obj[k]), "\t", " "))
	}
	return tw.Flush()
}
