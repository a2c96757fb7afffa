# pyn2n — every target does its own set-up on a fresh Debian 12 machine (as root).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := python3-venv python3-dev gcc make iproute2 iptables iputils-ping \
                liblzo2-dev procps kmod nftables \
                tcpdump dnsmasq-base udhcpc
# real clustering stacks for the tests and the demo (VRRP, mDNS)
APT_PACKAGES += keepalived avahi-daemon
# the status page test drives a real headless browser
APT_PACKAGES += chromium
BENCH_APT_PACKAGES := iperf3 openvpn tinc netcat-openbsd pv
# systemd-analyze (unit checks) and man (the man page renders) for the deploy tests
APT_PACKAGES += systemd man-db
STAMP := $(VENV)/.installed

.PHONY: all setup apt bench-apt test unit lint demo bench clean

all: test

apt:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  fi; \
	fi

bench-apt:
	@missing=""; for p in $(BENCH_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	$(MAKE) apt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,bench]'
	touch $(STAMP)

setup: $(STAMP)

test: apt lint
	$(PY) -m pytest -q tests

unit: setup
	$(PY) -m pytest -q tests/unit

# ruff's rules include C901 (complexity limit in pyproject.toml); mypy reads [tool.mypy]
lint: setup
	$(PY) -m ruff check src tests
	$(PY) -m ruff format --check src tests
	$(PY) -m mypy src

demo: setup apt
	$(VENV)/bin/pyn2n lab demo

bench: setup bench-apt
	$(VENV)/bin/pyn2n bench --out bench-results

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache .hypothesis

# --- system-wide install (docs/deploying.md) ------------------------------------------------
# A venv under OPT_DIR (Debian's system pip is externally managed), the command linked into
# BINDIR, example configs into SYSCONFDIR (an existing file is never overwritten), the systemd
# units, bash/zsh completion and the man page generated from the flags. Every path is a
# variable, so a test can install into a temporary tree (and CREATE_USER=no).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
OPT_DIR ?= /opt/pyn2n
SYSCONFDIR ?= /etc/pyn2n
UNITDIR ?= /etc/systemd/system
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
MANDIR ?= $(PREFIX)/share/man
SERVICE_USER ?= pyn2n
# Debian's interpreter: the service user must be able to run it (a pyenv under /root is not)
SYSTEM_PYTHON ?= $(firstword $(wildcard /usr/bin/python3) python3)
CREATE_USER ?= yes
UNITS := pyn2n-supernode.service pyn2n-edge@.service
CONFIGS := supernode.conf edge-example.conf

.PHONY: install uninstall

install:
	$(MAKE) apt
	$(SYSTEM_PYTHON) -m venv $(OPT_DIR)
	$(OPT_DIR)/bin/python -m pip install -q --upgrade pip
	rm -rf build  # a stale build/lib would carry removed modules into the wheel
	$(OPT_DIR)/bin/python -m pip install -q '.[deploy]'
	install -d $(BINDIR) $(UNITDIR) $(BASHCOMPDIR) $(ZSHCOMPDIR) $(MANDIR)/man1
	ln -sfn $(OPT_DIR)/bin/pyn2n $(BINDIR)/pyn2n
	@if [ "$(CREATE_USER)" = yes ] && ! getent passwd $(SERVICE_USER) >/dev/null; then \
	  echo "creating the system user $(SERVICE_USER)"; \
	  useradd --system --user-group --home-dir / --no-create-home \
	    --shell /usr/sbin/nologin $(SERVICE_USER); \
	fi
	install -d -m 0755 $(SYSCONFDIR)
	@for f in $(CONFIGS); do \
	  if [ -e $(SYSCONFDIR)/$$f ]; then echo "keeping $(SYSCONFDIR)/$$f"; continue; fi; \
	  install -m 0600 deploy/$$f $(SYSCONFDIR)/$$f; \
	done
	@# the supernode service runs as $(SERVICE_USER) from the start: let it read its config
	@if getent group $(SERVICE_USER) >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  chgrp $(SERVICE_USER) $(SYSCONFDIR)/supernode.conf && chmod g+r $(SYSCONFDIR)/supernode.conf; \
	fi
	@for u in $(UNITS); do \
	  sed -e 's|/usr/local/bin/pyn2n|$(BINDIR)/pyn2n|g' -e 's|/etc/pyn2n|$(SYSCONFDIR)|g' \
	    -e 's|^User=pyn2n|User=$(SERVICE_USER)|' -e 's|^Group=pyn2n|Group=$(SERVICE_USER)|' \
	    deploy/$$u > $(UNITDIR)/$$u; chmod 0644 $(UNITDIR)/$$u; \
	done
	$(OPT_DIR)/bin/pyn2n completion bash > $(BASHCOMPDIR)/pyn2n
	$(OPT_DIR)/bin/pyn2n completion zsh > $(ZSHCOMPDIR)/_pyn2n
	$(OPT_DIR)/bin/pyn2n completion man | gzip -9n > $(MANDIR)/man1/pyn2n.1.gz
	@if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "installed: $(BINDIR)/pyn2n -> $(OPT_DIR); configs in $(SYSCONFDIR); see docs/deploying.md"

# Configs stay unless they are still the shipped examples; the user stays (files may be its).
uninstall:
	@if [ -d /run/systemd/system ]; then \
	  systemctl stop pyn2n-supernode.service 'pyn2n-edge@*.service' || true; \
	  systemctl disable pyn2n-supernode.service pyn2n-edge@.service 2>/dev/null || true; \
	fi
	rm -f $(UNITDIR)/*.wants/pyn2n-edge@*.service $(UNITDIR)/*.wants/pyn2n-supernode.service
	rm -f $(addprefix $(UNITDIR)/,$(UNITS))
	rm -f $(BINDIR)/pyn2n $(BASHCOMPDIR)/pyn2n $(ZSHCOMPDIR)/_pyn2n $(MANDIR)/man1/pyn2n.1.gz
	rm -rf $(OPT_DIR)
	@for f in $(CONFIGS); do \
	  if cmp -s deploy/$$f $(SYSCONFDIR)/$$f; then rm -f $(SYSCONFDIR)/$$f; \
	  elif [ -e $(SYSCONFDIR)/$$f ]; then echo "keeping $(SYSCONFDIR)/$$f (changed)"; fi; \
	done
	@rmdir $(SYSCONFDIR) 2>/dev/null || echo "keeping $(SYSCONFDIR) (it holds your configs)"
	@if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
