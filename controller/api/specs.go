package api

import (
	"sync"

	"github.com/go-openapi/loads"

	"github.com/ostium-net/ostium/controller/internal/restserver/clientapi"
	"github.com/ostium-net/ostium/controller/internal/restserver/managementapi"
)

// The parsed API specs are the same for every server of the process and
// only read once parsed: each is parsed once (parsing is most of what
// building a server costs).
var (
	managementSpec = sync.OnceValues(func() (*loads.Document, error) {
		return loads.Embedded(managementapi.SwaggerJSON, managementapi.FlatSwaggerJSON)
	})
	clientSpec = sync.OnceValues(func() (*loads.Document, error) {
		return loads.Analyzed(clientapi.FlatSwaggerJSON, "")
	})
)
