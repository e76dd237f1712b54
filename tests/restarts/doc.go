// Package restarts tests the data plane through restarts with every part in its own process:
// the controller and the edge routers run as the ostium-controller and ostium-router binaries,
// built into the test's temporary directory, while hosting and dialing clients use the sdk in
// the test process. It covers routers coming back (hosts bind again at once), a router
// restarted while the controller is away (it works from the state it saved), and a router's
// graceful stop (its circuits drain, its hosts move). Timings are logged, not asserted.
package restarts
