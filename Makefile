# Shortcuts for the scripts README names; the scripts are the source of truth.
.PHONY: setup demo check test
setup:
	scripts/setup
demo:
	scripts/demo
check:
	scripts/check
test:
	scripts/test
