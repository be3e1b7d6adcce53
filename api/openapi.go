package api

import _ "embed"

// openAPIDoc is the API reference served at /openapi.json. TestOpenAPI
// holds it to the server's routes and methods, so a route cannot exist in
// one and not the other.
//
//go:embed openapi.json
var openAPIDoc []byte
