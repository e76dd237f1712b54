package state

import (
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/ostium-net/ostium/controller/filter"
	"github.com/ostium-net/ostium/controller/store"
)

var schemas sync.Map // *store.Kind → filter.Schema

// FilterSchema lists the fields a list filter may name for records of kind k:
// the JSON fields FieldsOf exposes (hashes and key material are not among
// them), with "x.*" for the keys under a field that holds an object, such as
// tags.* . A filter naming any other field is refused rather than matching
// nothing, so a misspelt field is an error, not an empty list. Values are
// not type-checked (KindAny): records store some fields as strings that
// filters compare as times.
func FilterSchema(k *store.Kind) filter.Schema {
	if s, ok := schemas.Load(k); ok {
		return s.(filter.Schema)
	}
	s := filter.Schema{}
	if k.New != nil {
		addFields(s, "", reflect.TypeOf(k.New()))
	}
	for name := range hidden {
		delete(s, name)
	}
	if k == store.Identities {
		s["typeId"] = filter.FieldSpec{Kind: filter.KindAny} // see FieldsOf
	}
	schemas.Store(k, s)
	return s
}

var timeType = reflect.TypeOf(time.Time{})

// addFields adds the JSON fields of t (a struct or a pointer to one) under prefix.
func addFields(s filter.Schema, prefix string, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			addFields(s, prefix, f.Type)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		name = prefix + name
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		spec := filter.FieldSpec{Kind: filter.KindAny}
		switch {
		case ft == timeType:
		case ft.Kind() == reflect.Slice || ft.Kind() == reflect.Array:
			spec.Multi = true
		case ft.Kind() == reflect.Map || ft.Kind() == reflect.Interface:
			s[name+".*"] = spec
		case ft.Kind() == reflect.Struct:
			addFields(s, name+".", ft)
		}
		s[name] = spec
	}
}
