# pyn2n — every target does its own set-up on a fresh Debian 12 machine (as root).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := python3-venv python3-dev gcc make iproute2 iptables iputils-ping \
                liblzo2-dev procps kmod nftables
BENCH_APT_PACKAGES := iperf3 openvpn tinc netcat-openbsd pv
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

test: lint
	$(PY) -m pytest -q tests

unit: setup
	$(PY) -m pytest -q tests/unit

# ruff's rules include C901 (complexity limit in pyproject.toml); mypy reads [tool.mypy]
lint: setup
	$(PY) -m ruff check src tests
	$(PY) -m ruff format --check src tests
	$(PY) -m mypy src

demo: setup
	$(VENV)/bin/pyn2n lab demo

bench: setup bench-apt
	$(VENV)/bin/pyn2n bench --out bench-results

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache .hypothesis
