module github.com/skypilot-org/sky_rs

go 1.26.0

// The extension's Go runtime is a guest in a Python process (skyrs/guest):
// it must not size GOMAXPROCS from the cgroup by itself. Its reading aborts
// the process ("procresize: invalid arg") on cgroup v1 quota/period >= 2**31,
// at start and, with updatemaxprocs, a second after such a change; package
// guest sets GOMAXPROCS from an overflow-safe reading instead.
godebug (
	containermaxprocs=0
	updatemaxprocs=0
)

tool (
	github.com/go-python/gopy
	github.com/rhysd/actionlint/cmd/actionlint
	golang.org/x/tools/cmd/goimports
)

require (
	github.com/go-python/gopy v0.4.10
	golang.org/x/sys v0.50.0
)

require (
	github.com/bmatcuk/doublestar/v4 v4.10.0 // indirect
	github.com/clipperhouse/uax29/v2 v2.7.0 // indirect
	github.com/fatih/color v1.19.0 // indirect
	github.com/gonuts/commander v0.1.0 // indirect
	github.com/gonuts/flag v0.1.0 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/mattn/go-runewidth v0.0.21 // indirect
	github.com/mattn/go-shellwords v1.0.12 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/rhysd/actionlint v1.7.12 // indirect
	github.com/robfig/cron/v3 v3.0.1 // indirect
	go.yaml.in/yaml/v4 v4.0.0-rc.3 // indirect
	golang.org/x/mod v0.42.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/telemetry v0.0.0-20261009151841-97e8ea77aa2a // indirect
	golang.org/x/tools v0.52.0 // indirect
)
