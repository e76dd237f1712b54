// Package tests holds tests that span parts of Ostium: import rules between
// the controller, router, sdk and tunnel trees, and (as the parts grow)
// end-to-end runs of real processes.
package tests
