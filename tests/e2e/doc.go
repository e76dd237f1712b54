// Package e2e holds end-to-end tests of a whole Ostium network running in one
// process: controller, edge routers and sdk clients, talking over real TLS on
// 127.0.0.1.
package e2e
