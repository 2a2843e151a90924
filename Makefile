# Shortcuts for the scripts README names; the scripts are the source of truth.
.PHONY: setup demo check test bench bench-sensor images
setup:
	scripts/setup
demo:
	scripts/demo
check:
	scripts/check
test:
	scripts/test
# The engine's test images (scripts/images), into the engine's root: Debian bookworm (minbase,
# bash, python3; mmdebstrap, cached in .cache/images/) and busybox. DEBIAN_ARGS="--push
# 127.0.0.1:5000/debian:bookworm" (or --root DIR) passes flags on; likewise BUSYBOX_ARGS.
images:
	scripts/images debian $(DEBIAN_ARGS)
	scripts/images busybox $(BUSYBOX_ARGS)
# Side-by-side start-up and exec figures vs runc/crun, then the sensor's overhead and throughput
# (bench/README.md). BENCH_ARGS="--runs 10" passes flags to the two runtime benches (the shared
# ones: --runs, --warmup, --bastion, --timeout); SENSOR_BENCH_ARGS="--rounds 5" goes to
# sensor_overhead.py. `make bench-sensor` runs the three sensor benches alone.
bench:
	.venv/bin/python bench/runtime_start.py $(BENCH_ARGS)
	.venv/bin/python bench/runtime_exec.py $(BENCH_ARGS)
	$(MAKE) bench-sensor
bench-sensor:
	.venv/bin/python bench/sensor_overhead.py $(SENSOR_BENCH_ARGS)
	.venv/bin/python bench/sensor_throughput.py
	.venv/bin/python bench/rules_throughput.py
