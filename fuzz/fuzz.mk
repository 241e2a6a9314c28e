# Fuzzing and long stress runs; included by the top-level Makefile.
#
#   make fuzz         coverage-guided fuzzing of each target for FUZZ_TIME seconds (cargo fuzz);
#                     new inputs land in fuzz/corpus/<target>/, failures in fuzz/artifacts/
#   make fuzz-cmin    shrink the corpora to the inputs that add coverage (before committing)
#   make fuzz-harness the randomized harness (stable toolchain) for FUZZ_TIME s per target
#   make stress       the long stress variants (10 000 plug cycles, a minute of 64 cables…)
#
# `make test` already runs every fuzz target briefly (tests/it/in_process/fuzz.rs replays fuzz/corpus and
# mutates it for a few seconds each) and the short stress variants.

FUZZ_TARGETS := xvc_codec mpsse_reply config
FUZZ_TIME ?= 60
# cargo fuzz uses rustc options that only nightly toolchains accept; the stable toolchain
# accepts them too when told it is building itself (nothing is installed or changed).
FUZZ_ENV := RUSTC_BOOTSTRAP=1

.PHONY: fuzz fuzz-deps fuzz-cmin fuzz-harness stress

fuzz-deps:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked

## fuzz: the cargo-fuzz targets (FUZZ_TIME seconds each)
fuzz:
	@if $(MAKE) --no-print-directory fuzz-deps && (cd fuzz && $(FUZZ_ENV) $(CARGO) fuzz build -O); then \
		for t in $(FUZZ_TARGETS); do \
			echo "== cargo fuzz run $$t ($(FUZZ_TIME) s)"; \
			(cd fuzz && $(FUZZ_ENV) $(CARGO) fuzz run -O $$t -- -max_total_time=$(FUZZ_TIME)) || exit 1; \
		done; \
	else \
		echo "cargo fuzz cannot build here: running the randomized harness instead"; \
		$(MAKE) --no-print-directory fuzz-harness; \
	fi

fuzz-cmin: fuzz-deps
	for t in $(FUZZ_TARGETS); do (cd fuzz && $(FUZZ_ENV) $(CARGO) fuzz cmin -O $$t) || exit 1; done

fuzz-harness:
	FUZZ_SECONDS=$(FUZZ_TIME) FUZZ_SEED=$$(date +%s) $(CARGO_SHARED) test --release --test it -- in_process::fuzz:: --nocapture --test-threads 1

## stress: the stress tests, longer
stress:
	XVC_STRESS_CYCLES=10000 $(CARGO_SHARED) test --test stress_flapping -- --nocapture
	XVC_SCALE_SHIFT_SECONDS=60 XVC_SCALE_IDLE_SECONDS=30 $(CARGO_SHARED) test --test stress_scale -- --nocapture
	$(CARGO_SHARED) test --test it -- stress:: --nocapture
	XVC_STRESS_UMOCKDEV_CYCLES=1000 CARGO=$(CARGO_SHARED) tests/umockdev/run.sh -k stress -s
