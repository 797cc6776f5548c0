# dkms in Rust. `make help` lists the targets.
PREFIX      ?= /usr/local
DESTDIR     ?=
sbindir     ?= $(PREFIX)/sbin
libexecdir  ?= $(PREFIX)/libexec
mandir      ?= $(PREFIX)/share/man
CARGO       ?= cargo
VERBS       := $(patsubst bin/dkms-%.rs,%,$(wildcard bin/dkms-*.rs))
# Sections of the upstream v3.4.3 suite to run (empty: all 15; run as root).
SECTIONS    ?=
SUITE       ?= ../shared/conformance/run-upstream-suite

export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: all build release deps test lint check check-upstream demo install uninstall clean help

all: build ## Build debug binaries

build: ## Build debug binaries
	$(CARGO) build

release: ## Build release binaries (libexec dir baked in)
	DKMS_LIBEXECDIR=$(libexecdir)/dkms $(CARGO) build --release

deps: ## Install missing build/test dependencies (apt, rustup)
	./scripts/deps.sh

test: deps ## Hermetic unit and integration tests
	$(CARGO) test --workspace

lint: ## clippy and rustfmt
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all --check

check: test lint check-upstream ## Everything CI runs

check-upstream: release ## Upstream suite sections (needs root and kernel headers)
	@if [ "$$(id -u)" != 0 ]; then echo "check-upstream: skipped (needs root)"; \
	elif [ ! -x $(SUITE) ]; then echo "check-upstream: skipped ($(SUITE) not found)"; \
	else $(SUITE) --dkms target/release/dkms $(foreach s,$(SECTIONS),--section $(s)); fi

demo: deps release ## Add, build and install the example module into build/demo
	./scripts/demo.sh

install: release ## Install dkms and dkms-* (PREFIX, DESTDIR, libexecdir)
	install -Dm755 target/release/dkms $(DESTDIR)$(sbindir)/dkms
	for v in $(VERBS); do install -Dm755 target/release/dkms-$$v $(DESTDIR)$(libexecdir)/dkms/dkms-$$v; done

uninstall: ## Remove what install installed
	rm -f $(DESTDIR)$(sbindir)/dkms
	for v in $(VERBS); do rm -f $(DESTDIR)$(libexecdir)/dkms/dkms-$$v; done

clean: ## Remove build products
	$(CARGO) clean
	rm -rf build

help: ## This list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'
