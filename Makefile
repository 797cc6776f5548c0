# dkms in Rust. `make help` lists the targets.
#
# Installation directories (GNU names; override on the command line, e.g.
# `make install PREFIX=/usr DESTDIR=/tmp/stage`). The release binaries bake
# in libexecdir, sysconfdir and moddir; paths may not contain spaces or '='.
PREFIX      ?= /usr/local
DESTDIR     ?=
sbindir     ?= $(PREFIX)/sbin
libexecdir  ?= $(PREFIX)/libexec
datarootdir ?= $(PREFIX)/share
mandir      ?= $(datarootdir)/man
bashcompdir ?= $(datarootdir)/bash-completion/completions
zshcompdir  ?= $(datarootdir)/zsh/site-functions
fishcompdir ?= $(datarootdir)/fish/vendor_completions.d
sysconfdir  ?= /etc
localstatedir ?= /var
# dkms_autoinstaller and common.postinst (upstream: /usr/lib/dkms)
pkglibdir   ?= $(PREFIX)/lib/dkms
# Debian kernel package hooks, kernel-install plugins, systemd units
kernelconfdir    ?= $(sysconfdir)/kernel
kernelinstalldir ?= $(PREFIX)/lib/kernel/install.d
systemdunitdir   ?= $(PREFIX)/lib/systemd/system
CARGO       ?= cargo
VERBS       := $(patsubst bin/dkms-%.rs,%,$(wildcard bin/dkms-*.rs))
# Sections of the upstream v3.4.3 suite to run (empty: all 15; run as root).
SECTIONS    ?=
SUITE       ?= ../shared/conformance/run-upstream-suite

# The autoinstaller the suite runs names dkms by the path the suite installs it at.
SUITE_SBINDIR ?= /usr/sbin
moddir      ?= /lib/modules

export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: all build release bench deps test lint check check-upstream demo install uninstall install-debian \
	uninstall-debian install-redhat uninstall-redhat gen deb check-deb clean help FORCE

all: build ## Build debug binaries

build: ## Build debug binaries (no install paths baked in: they run from target/debug)
	$(CARGO) build

# Cargo's target directory (CARGO_TARGET_DIR, build.target-dir in a cargo
# config, or ./target), as cargo itself reports it.
TARGET_DIR := $(shell $(CARGO) metadata --format-version 1 --no-deps 2>/dev/null | \
	sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
ifeq ($(TARGET_DIR),)
TARGET_DIR := $(CURDIR)/target
endif
# The cargo profile make release builds: dist (fat LTO, Cargo.toml).
PROFILE     ?= dist
# Where make release leaves its binaries: <target dir>/release, so that
# target/release/dkms is the release build whichever profile made it.
RELEASE_DIR := $(TARGET_DIR)/release

# One multicall binary: every <target>/release/dkms-<verb> is a hardlink to
# <target>/release/dkms, which runs as the verb its name says
# (dkms_cmd::run_dkms). It is built with the dist profile and linked there.
release: ## Build the release binary (profile dist: fat LTO) with libexecdir, sysconfdir and moddir baked in, into <target dir>/release (dkms-<verb>: hardlinks to dkms)
	DKMS_LIBEXECDIR=$(libexecdir)/dkms DKMS_SYSCONFDIR=$(sysconfdir) DKMS_MODDIR=$(moddir) $(CARGO) build --profile $(PROFILE) --bin dkms
	mkdir -p '$(RELEASE_DIR)'
	[ '$(PROFILE)' = release ] || ln -f '$(TARGET_DIR)/$(PROFILE)/dkms' '$(RELEASE_DIR)/dkms'
	$(foreach v,$(VERBS),ln -f '$(RELEASE_DIR)/dkms' '$(RELEASE_DIR)/dkms-$(v)' &&) true

bench: release ## Benchmark against upstream's bash dkms: status on 600x3 installed modules, autoinstall of 8 real modules, start-up, binary sizes
	DKMS='$(RELEASE_DIR)/dkms' ./benches/bench.sh

deps: ## Install missing build/test dependencies (apt, rustup)
	./scripts/deps.sh

# Where the tests note what they skipped (tests/cli/skip.rs); absolute, as
# each test binary runs in its own package's directory.
TEST_SKIPS  ?= $(CURDIR)/target/test-skips.txt

test: deps ## Hermetic unit and integration tests, then what was skipped and why (under CI=true any skip fails)
	@mkdir -p $(dir $(TEST_SKIPS)) && : > $(TEST_SKIPS)
	@echo "$(CARGO) test --workspace --features crash-points"; \
	DKMS_TEST_SKIPS=$(TEST_SKIPS) $(CARGO) test --workspace --features crash-points; status=$$?; \
	n=$$(grep -c '^SKIPPED ' $(TEST_SKIPS)); parts=$$(grep -c '^SKIPPED PART ' $(TEST_SKIPS)); \
	echo "test: $$((n - parts)) tests and $$parts parts of tests skipped (ledger: $(TEST_SKIPS))"; \
	if [ "$$n" -gt 0 ]; then sort $(TEST_SKIPS); echo "test: skips by reason:"; \
	    sed 's/^SKIPPED \(PART \)\{0,1\}[^ ]*: //; s/ \[[^]]*\]$$//' $(TEST_SKIPS) | sort | uniq -c | sort -rn; fi; \
	if [ "$$CI" = true ] && [ "$$n" -gt 0 ]; then echo "test: CI=true: nothing may be skipped" >&2; exit 1; fi; \
	exit $$status

lint: ## clippy and rustfmt
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all --check

check: test lint check-upstream ## Everything CI runs

build/suite/dkms_autoinstaller: data/dkms_autoinstaller.in Makefile
	@mkdir -p build/suite
	sed -e 's|@SBINDIR@|$(SUITE_SBINDIR)|g' -e 's|@MODDIR@|$(moddir)|g' $< > $@
	chmod 755 $@

check-upstream: release build/suite/dkms_autoinstaller ## Upstream suite, with upstream's and with our autoinstaller (root)
	@if [ "$$(id -u)" != 0 ]; then echo "check-upstream: skipped (needs root)"; \
	elif [ ! -x $(SUITE) ]; then echo "check-upstream: skipped ($(SUITE) not found)"; \
	else $(SUITE) --dkms '$(RELEASE_DIR)/dkms' $(foreach s,$(SECTIONS),--section $(s)) && \
	     $(SUITE) --dkms '$(RELEASE_DIR)/dkms' --autoinstaller build/suite/dkms_autoinstaller $(foreach s,$(SECTIONS),--section $(s)); fi

# The demo builds the quick release profile (no fat LTO): a newcomer's first
# command should take seconds of compiling, not minutes; the program is the same.
demo: deps ## Add, build and install the example module into build/demo (quick release build)
	$(MAKE) release PROFILE=release
	DKMS='$(RELEASE_DIR)/dkms' ./scripts/demo.sh

# ---------------------------------------------------------------- install
# Each list entry is DESTINATION=SOURCE=MODE; install and uninstall both
# walk the same lists.
# Every generated page, installed by its section: dkms.8 and dkms-<verb>.8,
# dkms.conf.5 and framework.conf.5, dkms-json.7.
MAN_PAGES   := $(wildcard man/*.[0-9])
# The multicall binary: installed once as sbindir/dkms; every
# libexecdir/dkms/dkms-<verb> is a hardlink to it (on another filesystem: to
# one copy in libexecdir), so the binaries take the space of one (or two).
VERB_LINKS   = $(foreach v,$(VERBS),$(libexecdir)/dkms/dkms-$(v))
CORE_FILES   = $(foreach m,$(MAN_PAGES),$(mandir)/man$(subst .,,$(suffix $(m)))/$(notdir $(m))=$(m)=644) \
	$(bashcompdir)/dkms=completions/dkms.bash=644 \
	$(zshcompdir)/_dkms=completions/_dkms=644 \
	$(fishcompdir)/dkms.fish=completions/dkms.fish=644
# Directories install creates; uninstall removes them when empty.
CORE_DIRS    = $(localstatedir)/lib/dkms $(sysconfdir)/dkms/framework.conf.d
OWN_DIRS     = $(libexecdir)/dkms $(sysconfdir)/dkms/framework.conf.d $(sysconfdir)/dkms \
	$(localstatedir)/lib/dkms $(pkglibdir)
FRAMEWORK_CONF = $(sysconfdir)/dkms/framework.conf
DEBIAN_FILES = $(kernelconfdir)/postinst.d/dkms=build/kernel-postinst=755 \
	$(kernelconfdir)/header_postinst.d/dkms=build/kernel-postinst=755 \
	$(kernelconfdir)/preinst.d/dkms=build/kernel-preinst=755 \
	$(kernelconfdir)/prerm.d/dkms=build/kernel-prerm=755 \
	$(kernelinstalldir)/40-dkms.install=build/kernel-install=755 \
	$(pkglibdir)/dkms_autoinstaller=build/dkms_autoinstaller=755 \
	$(pkglibdir)/common.postinst=build/common.postinst=755 \
	$(pkglibdir)/dkms-autopkgtest=build/dkms-autopkgtest=755 \
	$(pkglibdir)/dkms-failures=build/dkms-failures=755
REDHAT_FILES = $(kernelinstalldir)/40-dkms.install=build/kernel-install=755 \
	$(pkglibdir)/dkms-failures=build/dkms-failures=755 \
	$(systemdunitdir)/dkms.service=build/dkms.service=644

field        = $(word $(1),$(subst =, ,$(2)))
install_list = $(foreach e,$(1),install -Dm$(call field,3,$(e)) '$(call field,2,$(e))' '$(DESTDIR)$(call field,1,$(e))' &&) true
remove_list  = $(foreach e,$(1),rm -f '$(DESTDIR)$(call field,1,$(e))' &&) true
rmdir_empty  = $(foreach d,$(1),if [ -d '$(DESTDIR)$(d)' ]; then rmdir --ignore-fail-on-non-empty '$(DESTDIR)$(d)'; fi &&) true

# Templates under data/ with the install paths filled in. build/paths
# changes (and so remakes them) whenever one of the paths does.
SUBST = sed -e 's|@SBINDIR@|$(sbindir)|g' -e 's|@LIBDIR@|$(pkglibdir)|g' \
	-e 's|@MODDIR@|$(moddir)|g' -e 's|@SYSCONFDIR@|$(sysconfdir)|g' -e 's|@LIBEXECDIR@|$(libexecdir)|g'
build/paths: FORCE
	@mkdir -p build
	@echo '$(sbindir) $(pkglibdir) $(moddir) $(sysconfdir) $(libexecdir)' | cmp -s - $@ || \
		echo '$(sbindir) $(pkglibdir) $(moddir) $(sysconfdir) $(libexecdir)' > $@
build/%: data/%.in build/paths
	$(SUBST) $< > $@
	chmod 755 $@

install: release ## Install dkms, dkms-* (hardlinks to dkms), man pages, completions, framework.conf (PREFIX, DESTDIR, ...)
	install -Dm755 '$(RELEASE_DIR)/dkms' '$(DESTDIR)$(sbindir)/dkms'
	install -d -m 755 '$(DESTDIR)$(libexecdir)/dkms'
	src='$(DESTDIR)$(sbindir)/dkms'; \
	for f in $(foreach f,$(VERB_LINKS),'$(DESTDIR)$(f)'); do \
		rm -f "$$f" && { ln "$$src" "$$f" 2>/dev/null || { install -m755 '$(RELEASE_DIR)/dkms' "$$f" && src=$$f; }; } || exit 1; \
	done
	$(call install_list,$(CORE_FILES))
	$(foreach d,$(CORE_DIRS),install -d -m 755 '$(DESTDIR)$(d)' &&) true
	@# A framework.conf that is already there is the administrator's: keep it.
	[ -e '$(DESTDIR)$(FRAMEWORK_CONF)' ] || install -Dm644 data/framework.conf '$(DESTDIR)$(FRAMEWORK_CONF)'

uninstall: ## Remove what install installed (framework.conf only if unchanged, directories only if empty)
	rm -f '$(DESTDIR)$(sbindir)/dkms' $(foreach f,$(VERB_LINKS),'$(DESTDIR)$(f)')
	$(call remove_list,$(CORE_FILES))
	if cmp -s data/framework.conf '$(DESTDIR)$(FRAMEWORK_CONF)'; then rm -f '$(DESTDIR)$(FRAMEWORK_CONF)'; fi
	$(call rmdir_empty,$(OWN_DIRS))

install-debian: build/kernel-postinst build/kernel-preinst build/kernel-prerm build/kernel-install build/dkms_autoinstaller build/common.postinst build/dkms-autopkgtest build/dkms-failures ## Install the Debian kernel hooks, the kernel-install plugin, dkms_autoinstaller, common.postinst and dkms-autopkgtest
	$(call install_list,$(DEBIAN_FILES))

uninstall-debian: ## Remove what install-debian installed
	$(call remove_list,$(DEBIAN_FILES))
	$(call rmdir_empty,$(pkglibdir))

install-redhat: build/kernel-install build/dkms.service build/dkms-failures ## Install the kernel-install plugin and dkms.service
	$(call install_list,$(REDHAT_FILES))

uninstall-redhat: ## Remove what install-redhat installed
	$(call remove_list,$(REDHAT_FILES))

gen: ## Regenerate man/ and completions/ from the verb and flag tables, the dkms.conf and framework.conf tables and the JSON schema
	$(CARGO) run -q -p xtask -- gen

# ---------------------------------------------------------------- packages
DEB_VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
DEB_ARCH    ?= $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB         := build/dkms-rs_$(DEB_VERSION)_$(DEB_ARCH).deb

deb: ## Build build/dkms-rs_<version>_<arch>.deb (dpkg-deb; installs into a stage under build/)
	rm -rf build/deb
	$(MAKE) install install-debian DESTDIR=$(CURDIR)/build/deb/root PREFIX=/usr sysconfdir=/etc localstatedir=/var
	./scripts/mkdeb.sh build/deb/root $(DEB_VERSION) $(DEB_ARCH) $(DEB)

check-deb: deb ## Install, use and purge the .deb in a throw-away copy of / (root; the host is not changed); then prebuilt module packages through apt
	@if [ "$$(id -u)" != 0 ]; then echo "check-deb: skipped (needs root)"; \
	else ./scripts/check-deb.sh $(DEB) && ./scripts/check-deb-modules.sh $(DEB); fi

FORCE:

clean: ## Remove build products
	$(CARGO) clean
	rm -rf build

help: ## This list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'
