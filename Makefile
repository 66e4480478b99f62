# Set-up on a fresh machine: `make demo` or `make test`; both create .venv
# and install the project into it first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_PROJECT ?= demo-project
PYTEST_ARGS ?=
# Folder with the Fashion-MNIST IDX files of the benchmarks:
# make bench-quick FASHION_DATA=DIR
FASHION_DATA ?= /usr/share/datasets/fashion-mnist
# FixMatch settings of BENCHMARKS.md: the small CNN with FlexMatch
# thresholds for 840 s, and the SimCLR network with the job's defaults for 480 s.
FIXMATCH_CNN = --fixmatch-budget 840 --fixmatch-width 16 --fixmatch-lr 0.1 \
	--fixmatch-adaptive-threshold --no-distribution-alignment
FIXMATCH_SIMCLR = --fixmatch-budget 480 --fixmatch-init simclr --no-peers

.PHONY: install demo test test-fast system-deps screenshot bundle bundle-test clean \
	bench bench-quick fashion-data

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[test]'
	@touch $(STAMP)

# Shared libraries Qt needs even on the offscreen platform, and Xvfb for
# screenshots. Installed only where apt-get is available and we are root.
system-deps:
	@bash packaging/system-deps.sh

demo: install system-deps
	$(PY) -m workbench demo --project $(DEMO_PROJECT)

test: install system-deps
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

test-fast: install
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

screenshot: install system-deps
	bash docs/screenshots.sh
	bash packaging/screenshot.sh docs/window.png

# Method benchmarks on Fashion-MNIST (BENCHMARKS.md). Debian's package is
# installed where apt-get is available and we are root; elsewhere pass
# FASHION_DATA=DIR.
fashion-data:
	@test -d $(FASHION_DATA) || \
		{ command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		  apt-get install -y dataset-fashion-mnist; } || \
		echo "No Fashion-MNIST in $(FASHION_DATA), and apt-get cannot install it here" \
		     "(it needs root and Debian's dataset-fashion-mnist package). Install it," \
		     "or pass FASHION_DATA=DIR with the IDX files."

# bench_methods runs as in BENCHMARKS.md, two runs at a time with one torch
# thread each (benchmarks/side_by_side.sh): the feature methods on
# pixels+PCA and on SimCLR (one seed per run), FixMatch and its labels-only
# peer with the 15-minute budget (one N per run), then FixMatch from the
# SimCLR network. `bench_methods.py --markdown FILES --combine` pools them.
METHODS = nice -n 10 $(PY) benchmarks/bench_methods.py --data $(FASHION_DATA) --threads 1
FEATURES = $(METHODS) --fixmatch-epochs 0
FIXMATCH = $(METHODS) --spaces --methods --fixmatch-epochs 1000 --labels-only-budget 120
bench: install fashion-data
	bash benchmarks/side_by_side.sh \
		"$(FEATURES) --spaces pixels-pca --json docs/bench/methods-full-features.json" \
		"$(FEATURES) --spaces simclr --seeds 0 --json docs/bench/methods-full-simclr.json"
	bash benchmarks/side_by_side.sh \
		"$(FEATURES) --spaces simclr --seeds 1 --json docs/bench/methods-full-simclr-1.json" \
		"$(FEATURES) --spaces simclr --seeds 2 --json docs/bench/methods-full-simclr-2.json"
	bash benchmarks/side_by_side.sh \
		"$(FIXMATCH) --labels-per-class 10 $(FIXMATCH_CNN) --json docs/bench/methods-fixmatch-10.json" \
		"$(FIXMATCH) --labels-per-class 100 $(FIXMATCH_CNN) --json docs/bench/methods-fixmatch-100.json"
	bash benchmarks/side_by_side.sh \
		"$(FIXMATCH) --labels-per-class 10 $(FIXMATCH_SIMCLR) --json docs/bench/methods-fixmatch-simclr-10.json" \
		"$(FIXMATCH) --labels-per-class 100 $(FIXMATCH_SIMCLR) --json docs/bench/methods-fixmatch-simclr-100.json"
	$(PY) benchmarks/bench_methods.py --combine --plot docs/bench/methods-full-simclr-3seeds \
		--markdown docs/bench/methods-full-simclr.json docs/bench/methods-full-simclr-1.json \
		docs/bench/methods-full-simclr-2.json
	$(PY) benchmarks/bench_methods.py --combine --plot docs/bench/methods-fixmatch-3seeds \
		--markdown docs/bench/methods-fixmatch-10.json docs/bench/methods-fixmatch-100.json
	$(PY) benchmarks/bench_methods.py --combine --plot docs/bench/methods-fixmatch-simclr-3seeds \
		--markdown docs/bench/methods-fixmatch-simclr-10.json docs/bench/methods-fixmatch-simclr-100.json
	nice -n 10 $(PY) benchmarks/bench_noise.py --data $(FASHION_DATA)
	nice -n 10 $(PY) benchmarks/bench_weak.py --data $(FASHION_DATA)
	nice -n 10 $(PY) benchmarks/bench_throughput.py --data $(FASHION_DATA)
	nice -n 10 $(PY) benchmarks/bench_jobs.py --data $(FASHION_DATA)

bench-quick: install fashion-data
	nice -n 10 $(PY) benchmarks/bench_methods.py --data $(FASHION_DATA) --quick --json docs/bench/methods-quick.json
	nice -n 10 $(PY) benchmarks/bench_noise.py --data $(FASHION_DATA) --quick --json docs/bench/noise-quick.json
	nice -n 10 $(PY) benchmarks/bench_weak.py --data $(FASHION_DATA) --quick --json docs/bench/weak-quick.json
	nice -n 10 $(PY) benchmarks/bench_throughput.py --data $(FASHION_DATA) --quick --json docs/bench/throughput-quick.json

# The desktop bundle (PyInstaller): dist/workbench/ and its .tar.gz, then
# the same archive unpacked elsewhere and smoke-tested (README, Installer).
BUNDLE_STAMP := $(VENV)/.bundle-installed

$(BUNDLE_STAMP): $(STAMP)
	$(PY) -m pip install -e '.[test,bundle]'
	@touch $(BUNDLE_STAMP)

bundle: $(BUNDLE_STAMP) system-deps
	PY=$(PY) bash packaging/build-bundle.sh

bundle-test: bundle
	bash packaging/bundle-test.sh

clean:
	rm -rf $(VENV) build dist *.egg-info $(DEMO_PROJECT)
