# Shortcuts for the scripts README names; the scripts are the source of truth.
.PHONY: setup demo check test bench
setup:
	scripts/setup
demo:
	scripts/demo
check:
	scripts/check
test:
	scripts/test
# Side-by-side start-up and exec figures vs runc/crun (bench/README.md); BENCH_ARGS="--runs 10"
# passes flags to both benches (the shared ones: --runs, --warmup, --bastion, --timeout).
bench:
	.venv/bin/python bench/runtime_start.py $(BENCH_ARGS)
	.venv/bin/python bench/runtime_exec.py $(BENCH_ARGS)
