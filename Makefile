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

# The autoinstaller the suite runs names dkms by the path the suite installs it at.
SUITE_SBINDIR ?= /usr/sbin
moddir      ?= /lib/modules

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
	$(CARGO) test --workspace --features crash-points

lint: ## clippy and rustfmt
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all --check

check: test lint check-upstream ## Everything CI runs

build/dkms_autoinstaller: data/dkms_autoinstaller.in Makefile
	@mkdir -p build
	sed -e 's|@SBINDIR@|$(SBINDIR_FOR_AUTOINSTALLER)|g' -e 's|@MODDIR@|$(moddir)|g' $< > $@
	chmod 755 $@

build/suite/dkms_autoinstaller: data/dkms_autoinstaller.in Makefile
	@mkdir -p build/suite
	sed -e 's|@SBINDIR@|$(SUITE_SBINDIR)|g' -e 's|@MODDIR@|$(moddir)|g' $< > $@
	chmod 755 $@

check-upstream: release build/suite/dkms_autoinstaller ## Upstream suite, with upstream's and with our autoinstaller (root)
	@if [ "$$(id -u)" != 0 ]; then echo "check-upstream: skipped (needs root)"; \
	elif [ ! -x $(SUITE) ]; then echo "check-upstream: skipped ($(SUITE) not found)"; \
	else $(SUITE) --dkms target/release/dkms $(foreach s,$(SECTIONS),--section $(s)) && \
	     $(SUITE) --dkms target/release/dkms --autoinstaller build/suite/dkms_autoinstaller $(foreach s,$(SECTIONS),--section $(s)); fi

demo: deps release ## Add, build and install the example module into build/demo
	./scripts/demo.sh

SBINDIR_FOR_AUTOINSTALLER = $(sbindir)

install: release build/dkms_autoinstaller ## Install dkms, dkms-* and the autoinstaller (PREFIX, DESTDIR, libexecdir)
	install -Dm755 target/release/dkms $(DESTDIR)$(sbindir)/dkms
	for v in $(VERBS); do install -Dm755 target/release/dkms-$$v $(DESTDIR)$(libexecdir)/dkms/dkms-$$v; done
	install -Dm755 build/dkms_autoinstaller $(DESTDIR)$(PREFIX)/lib/dkms/dkms_autoinstaller

uninstall: ## Remove what install installed
	rm -f $(DESTDIR)$(sbindir)/dkms $(DESTDIR)$(PREFIX)/lib/dkms/dkms_autoinstaller
	for v in $(VERBS); do rm -f $(DESTDIR)$(libexecdir)/dkms/dkms-$$v; done

clean: ## Remove build products
	$(CARGO) clean
	rm -rf build

help: ## This list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'
