package api

import (
	"encoding/json"
	"fmt"

	"github.com/ostium-net/ostium/controller/store"
)

// The config types every controller knows: the tunneler's intercept (client
// side) and host (server side) configs. Their ids are fixed and equal to their
// names, so that every controller of a cluster seeds the same records.
const (
	ConfigTypeInterceptV1 = "intercept.v1"
	ConfigTypeHostV1      = "host.v1"
)

// interceptV1Schema describes where a tunneler intercepts a service's traffic.
const interceptV1Schema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "intercept.v1",
  "description": "The addresses and ports a tunneler intercepts for a service.",
  "type": "object",
  "required": ["protocols", "addresses", "portRanges"],
  "properties": {
    "protocols": {
      "description": "The transport protocols to intercept.",
      "type": "array",
      "minItems": 1,
      "uniqueItems": true,
      "items": {"$ref": "#/definitions/protocol"}
    },
    "addresses": {
      "description": "IP addresses, CIDRs, host names or *.domain wildcards to intercept.",
      "type": "array",
      "minItems": 1,
      "uniqueItems": true,
      "items": {"$ref": "#/definitions/address"}
    },
    "portRanges": {
      "description": "The port ranges to intercept, bounds included.",
      "type": "array",
      "minItems": 1,
      "items": {"$ref": "#/definitions/portRange"}
    },
    "dialOptions": {
      "description": "How the tunneler dials the service.",
      "type": "object",
      "properties": {
        "identity": {
          "description": "The hosting identity to dial, when several host the service.",
          "type": "string",
          "maxLength": 255
        },
        "connectTimeoutSeconds": {
          "type": "integer",
          "minimum": 0,
          "maximum": 2147483647
        }
      }
    },
    "sourceIp": {
      "description": "The source address to present on the hosting side, e.g. $src_ip:$src_port.",
      "type": "string",
      "maxLength": 255
    }
  },
  "definitions": {
    "protocol": {"type": "string", "enum": ["tcp", "udp"]},
    "address": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^\\S+$"},
    "port": {"type": "integer", "minimum": 0, "maximum": 65535},
    "portRange": {
      "type": "object",
      "required": ["low", "high"],
      "properties": {
        "low": {"$ref": "#/definitions/port"},
        "high": {"$ref": "#/definitions/port"}
      }
    }
  }
}`

// hostV1Schema describes where a hosting tunneler sends a service's traffic:
// each of protocol, address and port is either fixed or forwarded from the
// intercepting side within an allowed set.
const hostV1Schema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "host.v1",
  "description": "Where a hosting tunneler connects the traffic of a service.",
  "type": "object",
  "allOf": [
    {"anyOf": [
      {"required": ["protocol"]},
      {"required": ["forwardProtocol", "allowedProtocols"], "properties": {"forwardProtocol": {"const": true}}}
    ]},
    {"anyOf": [
      {"required": ["address"]},
      {"required": ["forwardAddress", "allowedAddresses"], "properties": {"forwardAddress": {"const": true}}}
    ]},
    {"anyOf": [
      {"required": ["port"]},
      {"required": ["forwardPort", "allowedPortRanges"], "properties": {"forwardPort": {"const": true}}}
    ]}
  ],
  "properties": {
    "protocol": {"$ref": "#/definitions/protocol"},
    "forwardProtocol": {"type": "boolean"},
    "allowedProtocols": {
      "type": "array",
      "minItems": 1,
      "uniqueItems": true,
      "items": {"$ref": "#/definitions/protocol"}
    },
    "address": {"$ref": "#/definitions/address"},
    "forwardAddress": {"type": "boolean"},
    "allowedAddresses": {
      "type": "array",
      "minItems": 1,
      "uniqueItems": true,
      "items": {"$ref": "#/definitions/address"}
    },
    "port": {"$ref": "#/definitions/port"},
    "forwardPort": {"type": "boolean"},
    "allowedPortRanges": {
      "type": "array",
      "minItems": 1,
      "items": {"$ref": "#/definitions/portRange"}
    },
    "allowedSourceAddresses": {
      "description": "Source addresses the hosting side may present (with sourceIp on the intercept side).",
      "type": "array",
      "uniqueItems": true,
      "items": {"$ref": "#/definitions/address"}
    },
    "listenOptions": {
      "type": "object",
      "properties": {
        "bindUsingEdgeIdentity": {"type": "boolean"},
        "connectTimeoutSeconds": {"type": "integer", "minimum": 0, "maximum": 2147483647},
        "cost": {"type": "integer", "minimum": 0, "maximum": 65535},
        "identity": {"type": "string", "maxLength": 255},
        "maxConnections": {"type": "integer", "minimum": 1, "maximum": 2147483647},
        "precedence": {"type": "string", "enum": ["default", "required", "failed"]}
      }
    },
    "portChecks": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["address", "interval", "timeout"],
        "properties": {
          "address": {"type": "string", "minLength": 1},
          "interval": {"$ref": "#/definitions/duration"},
          "timeout": {"$ref": "#/definitions/duration"},
          "actions": {"$ref": "#/definitions/checkActions"}
        }
      }
    },
    "httpChecks": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["url", "interval", "timeout"],
        "properties": {
          "url": {"type": "string", "minLength": 1},
          "method": {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH"]},
          "body": {"type": "string"},
          "expectStatus": {"type": "integer", "minimum": 1, "maximum": 599},
          "expectInBody": {"type": "string"},
          "interval": {"$ref": "#/definitions/duration"},
          "timeout": {"$ref": "#/definitions/duration"},
          "actions": {"$ref": "#/definitions/checkActions"}
        }
      }
    }
  },
  "definitions": {
    "protocol": {"type": "string", "enum": ["tcp", "udp"]},
    "address": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^\\S+$"},
    "port": {"type": "integer", "minimum": 0, "maximum": 65535},
    "portRange": {
      "type": "object",
      "required": ["low", "high"],
      "properties": {
        "low": {"$ref": "#/definitions/port"},
        "high": {"$ref": "#/definitions/port"}
      }
    },
    "duration": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$"},
    "checkActions": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["trigger", "action"],
        "properties": {
          "trigger": {"type": "string", "enum": ["fail", "pass", "change"]},
          "consecutiveEvents": {"type": "integer", "minimum": 0},
          "duration": {"$ref": "#/definitions/duration"},
          "action": {"type": "string", "minLength": 1}
        }
      }
    }
  }
}`

// BuiltinConfigTypes returns fresh records of the built-in config types, for
// the controller to seed when its store is initialised.
func BuiltinConfigTypes() []*store.ConfigType {
	out := make([]*store.ConfigType, 0, 2)
	for _, b := range []struct{ name, schema string }{
		{ConfigTypeInterceptV1, interceptV1Schema},
		{ConfigTypeHostV1, hostV1Schema},
	} {
		var schema map[string]any
		if err := json.Unmarshal([]byte(b.schema), &schema); err != nil {
			// The schemas are constants of this file; a test compiles them.
			panic(fmt.Sprintf("built-in config type %s: %v", b.name, err))
		}
		out = append(out, &store.ConfigType{Meta: store.Meta{ID: b.name}, Name: b.name, Schema: schema})
	}
	return out
}

// builtinConfigProblem names, in plain words, what a config of a built-in type
// lacks, before the schema check, whose answer to a missing field of host.v1
// is the alternative it also failed (forwardPort, allowedPortRanges) rather
// than the field the author most likely forgot. Nil when nothing required is
// missing, or for other types; the schema check still runs afterwards.
func builtinConfigProblem(typeID string, data map[string]any) error {
	missing := func(field string) bool {
		v, ok := data[field]
		return !ok || v == nil
	}
	switch typeID {
	case ConfigTypeHostV1:
		for _, f := range []struct{ field, forward, allowed, what string }{
			{"protocol", "forwardProtocol", "allowedProtocols", `the protocol to connect with ("tcp" or "udp")`},
			{"address", "forwardAddress", "allowedAddresses", "the host name or IP address of the application"},
			{"port", "forwardPort", "allowedPortRanges", "the port the application listens on"},
		} {
			forward, _ := data[f.forward].(bool)
			switch {
			case forward && missing(f.allowed):
				return validationError("data."+f.allowed, f.allowed+" is missing: "+f.forward+" needs the list of values a dialer may ask for", nil)
			case !forward && missing(f.field):
				return validationError("data."+f.field, f.field+" is missing: give "+f.what+" (or set "+f.forward+" with "+f.allowed+")", nil)
			}
		}
	case ConfigTypeInterceptV1:
		for _, f := range []struct{ field, what string }{
			{"protocols", `the protocols to intercept, e.g. ["tcp"]`},
			{"addresses", `the addresses clients use, e.g. ["app.ostium"]`},
			{"portRanges", `the ports to intercept, e.g. [{"low":443,"high":443}]`},
		} {
			if missing(f.field) {
				return validationError("data."+f.field, f.field+" is missing: give "+f.what, nil)
			}
		}
	}
	return nil
}
